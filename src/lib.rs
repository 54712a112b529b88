//! jkd: a mod_jk-compatible AJP13 front end and load balancer.

pub mod ajp;
pub mod balancer;
pub mod config;
pub mod demo;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod status;

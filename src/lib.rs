//! jkd: a mod_jk-compatible AJP13 front end and load balancer.

// Memory safety is left to the crates (tokio, hyper, jiff, rustix, ...): jkd itself
// has no unsafe code.
#![forbid(unsafe_code)]

pub mod ajp;
pub mod balancer;
pub mod config;
pub mod demo;
pub mod http;
pub mod metrics;
pub mod status;

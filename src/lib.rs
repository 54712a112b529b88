//! jkd: a mod_jk-compatible AJP13 front end and load balancer.

// Memory safety is left to the crates (tokio, hyper, jiff, rustix, ...): jkd itself
// has no unsafe code.
#![forbid(unsafe_code)]
// Data from the network or from files must never bring the process down: failures
// are handled as values. Tests may unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

pub mod access_log;
pub mod ajp;
pub mod balancer;
pub mod config;
pub mod demo;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod status;
pub mod tls;

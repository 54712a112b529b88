//! Shared support code for integration tests (each test crate uses only part of it).
#![allow(dead_code)]

pub mod ajp_tap;
pub mod certs;
pub mod jkd;
pub mod modjk;
pub mod recorder;
pub mod tomcat;

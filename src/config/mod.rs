//! Configuration: reads workers.properties, mount rules and Apache `Jk*` lines into one immutable `Config`.

pub mod diag;
pub mod keys;
pub mod props;

//! Fuzz target: reads arbitrary bytes as a workers.properties and builds the typed configuration.
//!
//! Besides "no panic, no hang" it checks what must hold for any input: every
//! diagnostic points at a line that exists, and a configuration is produced exactly
//! when there is no error, in which case its status dump renders.

#![no_main]

use jkd::config;
use libfuzzer_sys::fuzz_target;

fn no_env(_: &str) -> Option<String> {
    None
}

fuzz_target!(|data: &[u8]| {
    let loaded = config::from_workers_bytes("fuzz.properties", data, &no_env);
    let lines = data.split(|b| *b == b'\n').count() as u32;
    for d in &loaded.diagnostics {
        assert!(
            d.origin.line <= lines,
            "diagnostic beyond the last line: {d}"
        );
    }
    let has_error = loaded.diagnostics.iter().any(|d| d.is_error());
    assert_eq!(loaded.config.is_some(), !has_error);
    if let Some(cfg) = &loaded.config {
        let dump = config::dump::render(cfg);
        assert!(dump.lines().all(|l| l.contains('=')));
    }
});

//! Fuzz target: builds a mount table from a uriworkermap file and maps a request path through it.
//!
//! Input: the first line is the raw request path, the rest is a uriworkermap file.
//! Besides "no panic, no hang", it checks what must hold whatever the input:
//! a chosen rule is enabled, positive and matches the normalised URI; decoded paths
//! hold no NUL; `canon_encode` is ASCII and percent-decodes back to its input.

#![no_main]

use std::sync::Arc;

use jkd::config::diag::Diagnostics;
use jkd::config::mounts::{self, MountTable};
use jkd::config::uri;
use libfuzzer_sys::fuzz_target;

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        match (c, hex.and_then(|h| std::str::from_utf8(h).ok())) {
            (b'%', Some(h)) => {
                out.push(u8::from_str_radix(h, 16).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (raw, file) = match data.iter().position(|&b| b == b'\n') {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (data, &[][..]),
    };
    let mut diags = Diagnostics::default();
    let name: Arc<str> = Arc::from("fuzz.properties");
    let rules = mounts::read_uriworkermap(&name, file, &|_| None, &mut diags);
    let table = MountTable::new(rules);

    if let Ok(decoded) = uri::decode_path(raw) {
        assert!(!decoded.contains(&0), "decoded path holds a NUL");
        let encoded = uri::canon_encode(&decoded);
        assert!(encoded.is_ascii());
        assert_eq!(
            percent_decode(&encoded),
            decoded,
            "canon_encode does not round-trip"
        );
        if let Ok(normalized) = uri::normalize(&decoded)
            && let Some(rule) = table.map(&normalized)
        {
            assert!(!rule.disabled && !rule.exclusion);
            assert!(rule.matches(&normalized));
        }
    }
    let _ = table.map_raw(raw);
    for rule in table.rules() {
        let _ = mounts::wildchar_match(raw, &rule.pattern);
    }
});

//! Responses by status code, lock-free, with a fixed set of labels: the common codes each have a counter, the rest are counted by class (`2xx`, `5xx`, ...), so the number of metric series stays bounded whatever backends answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The codes counted one by one; the others count under their class.
const CODES: [u16; 23] = [
    200, 201, 204, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409, 413, 429, 500,
    501, 502, 503, 504,
];

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Counts of responses by status code.
#[derive(Debug, Default)]
pub struct ResponseCounts {
    codes: [AtomicU64; CODES.len()],
    classes: [AtomicU64; CLASSES.len()],
}

impl ResponseCounts {
    pub fn count(&self, status: u16) {
        let slot = match CODES.iter().position(|c| *c == status) {
            Some(i) => self.codes.get(i),
            None => self.classes.get(
                usize::from(status / 100)
                    .saturating_sub(1)
                    .min(CLASSES.len() - 1),
            ),
        };
        if let Some(n) = slot {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every label with a count above 0: the code (`"404"`) or its class (`"4xx"`).
    pub fn counted(&self) -> Vec<(String, u64)> {
        let codes = CODES
            .iter()
            .zip(&self.codes)
            .map(|(c, n)| (c.to_string(), n.load(Ordering::Relaxed)));
        let classes = CLASSES
            .iter()
            .zip(&self.classes)
            .map(|(c, n)| ((*c).to_string(), n.load(Ordering::Relaxed)));
        codes.chain(classes).filter(|(_, n)| *n > 0).collect()
    }
}

/// Responses that no member answered (not mapped, refused, no member available), by
/// the worker the URI was mapped to (`""`: none). Shared by every runtime snapshot.
#[derive(Debug, Default)]
pub struct UnansweredByWorker {
    by_worker: parking_lot::Mutex<HashMap<String, ResponseCounts>>,
}

impl UnansweredByWorker {
    pub fn count(&self, worker: &str, status: u16) {
        let mut map = self.by_worker.lock();
        match map.get(worker) {
            Some(counts) => counts.count(status),
            None => {
                let counts = ResponseCounts::default();
                counts.count(status);
                map.insert(worker.to_string(), counts);
            }
        }
    }

    /// `(worker, code, count)` for the metrics.
    pub fn counted(&self) -> Vec<(String, String, u64)> {
        self.by_worker
            .lock()
            .iter()
            .flat_map(|(w, counts)| {
                counts
                    .counted()
                    .into_iter()
                    .map(move |(code, n)| (w.clone(), code, n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_codes_alone_the_rest_by_class() {
        let c = ResponseCounts::default();
        for status in [200, 200, 404, 418, 599, 102, 226] {
            c.count(status);
        }
        let mut got = c.counted();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("1xx".to_string(), 1),
                ("200".to_string(), 2),
                ("2xx".to_string(), 1),
                ("404".to_string(), 1),
                ("4xx".to_string(), 1),
                ("5xx".to_string(), 1),
            ]
        );
    }
}

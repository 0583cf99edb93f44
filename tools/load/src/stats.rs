//! Latency percentiles.

use serde::Serialize;

/// Latencies in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(pub Vec<u64>);

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

impl Latencies {
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn percentiles(mut self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        self.0.sort_unstable();
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        Percentiles { p50_ms: at(0.50), p99_ms: at(0.99), max_ms: at(1.0), samples: self.0.len() }
    }
}

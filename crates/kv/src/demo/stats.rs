//! Latency histograms for the demo and the benchmark.
//!
//! HDR histograms keep every quantile within 0.1% while using constant
//! memory however long a run lasts, so clients can record every request.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Largest latency recorded exactly; longer ones are clamped to it. Well
/// above any request timeout the demo or benchmark uses.
const LATENCY_US_MAX: u64 = 120_000_000;

/// Significant decimal digits kept by every histogram.
const SIGNIFICANT_DIGITS: u8 = 3;

/// One latency distribution in microseconds.
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        // The bounds are constants that hdrhistogram accepts; a failure
        // here is a programming error, not bad input.
        let histogram = Histogram::new_with_bounds(1, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        Latency { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(LATENCY_US_MAX);
        self.histogram
            .saturating_record(micros.clamp(1, LATENCY_US_MAX));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Both sides have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `quantile` (0.5 for the median), or zero when empty.
    pub fn quantile(&self, quantile: f64) -> Duration {
        if self.histogram.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.histogram.value_at_quantile(quantile))
    }
}

/// Write and read latencies of one client or of a whole run.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    pub write: Latency,
    pub read: Latency,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies::default()
    }

    pub fn record(&mut self, is_read: bool, latency: Duration) {
        if is_read {
            self.read.record(latency);
        } else {
            self.write.record(latency);
        }
    }

    pub fn merge(&mut self, other: &Latencies) {
        self.write.merge(&other.write);
        self.read.merge(&other.read);
    }
}

/// A duration for people: `850us`, `3.2ms`, `1.50s`.
pub fn human(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros < 1_000 {
        format!("{micros}us")
    } else if micros < 1_000_000 {
        format!("{:.1}ms", duration.as_secs_f64() * 1e3)
    } else {
        format!("{:.2}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_recorded_latencies() {
        let mut latency = Latency::new();
        assert_eq!(latency.quantile(0.5), Duration::ZERO);
        for millis in 1..=100 {
            latency.record(Duration::from_millis(millis));
        }
        let median = latency.quantile(0.5).as_millis();
        assert!((49..=51).contains(&median), "median {median}");
        assert!(latency.quantile(0.99).as_millis() >= 98);
        let mut total = Latency::new();
        total.merge(&latency);
        total.record(Duration::from_secs(1_000));
        assert_eq!(total.count(), 101);
    }

    #[test]
    fn durations_print_in_a_readable_unit() {
        assert_eq!(human(Duration::from_micros(850)), "850us");
        assert_eq!(human(Duration::from_micros(3_200)), "3.2ms");
        assert_eq!(human(Duration::from_millis(1_500)), "1.50s");
    }
}

//! A progress bar per benchmark phase: elapsed time against the phase's
//! length and the operations done so far. Drawn on stderr only when it
//! is a terminal, so piped output stays clean.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the bar is redrawn.
const REDRAW_INTERVAL: Duration = Duration::from_millis(100);

/// The bar of one running phase.
pub struct PhaseProgress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl PhaseProgress {
    /// Starts a bar named `phase` over `duration`, counting `ops`.
    pub fn start(phase: String, duration: Duration, ops: Arc<AtomicU64>) -> PhaseProgress {
        let total_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let bar = ProgressBar::new(total_ms);
        let style = ProgressStyle::with_template("{prefix:>22} {bar:30} {elapsed:>3} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(phase);
        let started = Instant::now();
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                ticking.set_position(elapsed_ms.min(total_ms));
                ticking.set_message(format!("{} ops", ops.load(Ordering::Relaxed)));
                tokio::time::sleep(REDRAW_INTERVAL).await;
            }
        });
        PhaseProgress { bar, ticker }
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

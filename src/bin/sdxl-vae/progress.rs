//! A long call's progress on a terminal: one line on stderr, rewritten in place as the call goes
//! and cleared at its end. Nothing is shown where stderr is not a terminal (pipes, logs, tests).

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    what: &'static str,
    start: Instant,
    on: bool,
    /// The percentage shown last, so that the line is rewritten only when it changes.
    shown: Cell<Option<u32>>,
}

impl Progress {
    pub fn new(what: &'static str) -> Progress {
        Progress {
            what,
            start: Instant::now(),
            on: std::io::stderr().is_terminal(),
            shown: Cell::new(None),
        }
    }

    /// Whether progress is shown (stderr is a terminal).
    pub fn on(&self) -> bool {
        self.on
    }

    pub fn report(&self, done: u32, total: u32) {
        let pct = (100 * done as u64 / total.max(1) as u64) as u32;
        if !self.on || self.shown.replace(Some(pct)) == Some(pct) {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64();
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r{} {pct:3}% ({done}/{total} steps, {secs:.0} s)",
            self.what
        );
        let _ = err.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.on && self.shown.get().is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `call` with a [`sdxl_vae::CallControl`] that reports to a [`Progress`] line named `what`.
pub fn with_progress<T>(what: &'static str, call: impl FnOnce(sdxl_vae::CallControl) -> T) -> T {
    let bar = Progress::new(what);
    let report = |d, t| bar.report(d, t);
    let ctl = sdxl_vae::CallControl {
        progress: bar.on().then_some(&report as &dyn Fn(u32, u32)),
        cancelled: None,
    };
    call(ctl)
}

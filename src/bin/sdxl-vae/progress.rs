//! Progress on a terminal: one line on stderr, rewritten in place as a call (or a batch of
//! files) goes and cleared at its end. Nothing of it is shown where stderr is not a terminal
//! (pipes, logs, tests); a batch then prints a plain line a file.

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

/// A batch's progress: which file of how many, how far its call is, the rate and the time left,
/// on one terminal line; each file's outcome is printed above it (stdout, errors on stderr).
pub struct BatchProgress {
    verb: &'static str,
    total: usize,
    start: Instant,
    on: bool,
    /// The file being worked on (index, name, done before it).
    current: Cell<(usize, usize)>,
    name: std::cell::RefCell<String>,
}

impl BatchProgress {
    pub fn new(verb: &'static str, total: usize) -> BatchProgress {
        BatchProgress {
            verb,
            total,
            start: Instant::now(),
            on: std::io::stderr().is_terminal(),
            current: Cell::new((0, 0)),
            name: Default::default(),
        }
    }

    /// File `i` (of the jobs) begins.
    pub fn start(&self, i: usize, input: &std::path::Path) {
        let name = input.file_name().unwrap_or_default().to_string_lossy();
        *self.name.borrow_mut() = name.into_owned();
        self.current.set((i, self.current.get().1));
        self.draw(0.0);
    }

    /// `done` files have been worked on (succeeded or failed).
    pub fn finished(&self, done: usize) {
        self.current.set((self.current.get().0, done));
    }

    /// A line about a file that went well, above the progress line.
    pub fn line(&self, text: &str) {
        self.clear();
        println!("{text}");
    }

    /// A line about a file that failed, above the progress line.
    pub fn error(&self, text: &str) {
        self.clear();
        eprintln!("{text}");
    }

    /// `call` with a [`sdxl_vae::CallControl`] that moves the progress line within the file.
    pub fn call<T>(&self, call: impl FnOnce(sdxl_vae::CallControl) -> T) -> T {
        let report = |d: u32, t: u32| self.draw(d as f64 / t.max(1) as f64);
        let ctl = sdxl_vae::CallControl {
            progress: self.on.then_some(&report as &dyn Fn(u32, u32)),
            cancelled: None,
        };
        call(ctl)
    }

    /// The line with the current file `part` done.
    fn draw(&self, part: f64) {
        if !self.on {
            return;
        }
        let (i, done) = self.current.get();
        let secs = self.start.elapsed().as_secs_f64();
        let rate = match done {
            0 => String::new(),
            n => {
                let per = secs / n as f64;
                let left = per * (self.total - i) as f64 - per * part;
                format!(", {:.2} files/s, {left:.0} s left", 1.0 / per)
            }
        };
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r\x1b[2K{} [{}/{}] {} {:3.0}%{rate}",
            self.verb,
            i + 1,
            self.total,
            self.name.borrow(),
            100.0 * part
        );
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.on {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

impl Drop for BatchProgress {
    fn drop(&mut self) {
        self.clear();
    }
}

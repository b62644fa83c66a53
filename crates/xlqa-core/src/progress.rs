//! The one progress display of xlqa, used by every long job (indexing,
//! evaluation, training, model downloads).
//!
//! On a terminal it is an indicatif bar with rate and ETA; on a pipe or a
//! log file (CI, `nohup`) it prints a line at every tenth of the work, so a
//! long job shows progress there too. `quiet` hides both.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// What a bar counts: items (passages, questions, steps) or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Items,
    Bytes,
}

/// Progress of one stage of a job.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    len: AtomicU64,
    log_lines: bool,
    last_tenth: AtomicU64,
}

/// A progress display for `len` items of `what` (nothing when `show` is false).
pub fn bar(len: u64, what: &str, show: bool) -> Progress {
    Progress::new(len, what, show, Unit::Items)
}

impl Progress {
    /// A display for `len` units of `what`; hidden when `show` is false.
    pub fn new(len: u64, what: &str, show: bool, unit: Unit) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let pb = if show && tty {
            ProgressBar::new(len)
        } else {
            ProgressBar::hidden()
        };
        if show && tty {
            let template = match unit {
                Unit::Items => "{msg:>12} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
                Unit::Bytes => {
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})"
                }
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            pb.set_style(style);
            pb.set_message(what.to_string());
        }
        if !tty {
            // a hidden bar does not count; keep the position ourselves
            pb.set_length(len);
        }
        Progress {
            bar: pb,
            what: what.to_string(),
            len: AtomicU64::new(len),
            log_lines: show && !tty,
            last_tenth: AtomicU64::new(0),
        }
    }

    pub fn set_position(&self, n: u64) {
        self.bar.set_position(n);
        let len = self.len.load(Ordering::Relaxed);
        if self.log_lines && len > 0 {
            let tenth = n * 10 / len;
            let prev = self.last_tenth.swap(tenth, Ordering::Relaxed);
            if tenth > prev {
                eprintln!("{}: {n}/{len} ({}%)", self.what, tenth * 10);
            }
        }
    }

    /// Changes the number of units (when it is known only once work started).
    /// A length of 0 means unknown: no tenth-of-the-work lines are printed.
    pub fn set_length(&self, n: u64) {
        self.bar.set_length(n);
        self.len.store(n, Ordering::Relaxed);
    }

    pub fn inc(&self, d: u64) {
        self.set_position(self.bar.position() + d);
    }

    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }

    /// Leaves the bar where it is (a failed job).
    pub fn abandon(&self) {
        self.bar.abandon();
    }

    /// Finishes the bar, leaving it on screen.
    pub fn finish(&self) {
        self.bar.finish();
    }

    /// Prints a line above the bar (on stderr).
    pub fn println(&self, msg: &str) {
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_bar_keeps_position_and_length() {
        let p = bar(10, "x", false);
        p.inc(3);
        p.inc(4);
        assert_eq!(p.position(), 7);
        p.set_length(20);
        assert_eq!(p.len.load(Ordering::Relaxed), 20);
    }
}

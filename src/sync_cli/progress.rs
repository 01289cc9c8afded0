//! Progress of a long run on stderr: a count every few seconds. On a terminal the count is
//! rewritten in place; otherwise it is one line per interval, never one per feed.

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use super::outcome::Outcome;

/// Counts shared by the workers of a run.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: AtomicUsize,
    changed: AtomicUsize,
    failed: AtomicUsize,
    started: Instant,
}

impl Progress {
    /// A run over `total` feeds, starting now.
    pub fn new(total: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            done: AtomicUsize::new(0),
            changed: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            started: Instant::now(),
        })
    }

    /// Counts one finished feed.
    pub fn record(&self, o: &Outcome) {
        if o.action.failed() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        } else if o.action.changes() {
            self.changed.fetch_add(1, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// The count as one line.
    pub fn line(&self) -> String {
        format!(
            "sync: {}/{} feeds, {} changed, {} failed, {:.0} s",
            self.done.load(Ordering::Relaxed),
            self.total,
            self.changed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64()
        )
    }

    /// Reports to `out` every `every` until the returned guard is dropped; `terminal` rewrites
    /// one line in place.
    pub fn report(
        self: &Arc<Self>,
        every: Duration,
        terminal: bool,
        mut out: impl Write + Send + 'static,
    ) -> Reporter {
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let line = me.line();
                let _ = if terminal {
                    write!(out, "\r{line}\x1b[K")
                } else {
                    writeln!(out, "{line}")
                };
                let _ = out.flush();
            }
        });
        Reporter { task, terminal }
    }
}

/// Stops the reports when dropped (and ends a terminal's in-place line).
pub struct Reporter {
    task: tokio::task::JoinHandle<()>,
    terminal: bool,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.task.abort();
        if self.terminal {
            let mut e = std::io::stderr();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::sync_cli::outcome::Action;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_count_per_interval_not_a_line_per_feed() {
        let p = Progress::new(1000);
        let buf = Buf::default();
        let reporter = p.report(Duration::from_millis(40), false, buf.clone());
        for i in 0..1000 {
            let action = if i % 100 == 0 {
                Action::Error
            } else {
                Action::Create
            };
            p.record(&Outcome::new("news/a", "c/news/a", action));
        }
        tokio::time::sleep(Duration::from_millis(130)).await;
        drop(reporter);
        let text = String::from_utf8(buf.0.lock().expect("buf").clone()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert!((1..=4).contains(&lines.len()), "{text}");
        assert!(
            lines[0].starts_with("sync: 1000/1000 feeds, 990 changed, 10 failed"),
            "{text}"
        );
        assert!(!text.contains('\r') && !text.contains('\u{1b}'));
    }
}

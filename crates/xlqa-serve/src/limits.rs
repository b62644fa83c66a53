//! [`Limits`] on requests and the [`Gate`] every piece of model work goes
//! through: at most `workers` questions are answered at once, at most
//! `queue` more wait, and the rest are turned away at once with 503 and
//! `Retry-After` instead of piling up on two cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};

use crate::error::ApiError;

/// What the server accepts and how much work it takes on.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Request bodies above this many bytes get 413.
    pub max_body_bytes: usize,
    /// Questions above this many characters get 422.
    pub max_question_chars: usize,
    /// Questions in one batch request.
    pub max_batch: usize,
    /// Requests answered at the same time (model work on the CPU).
    pub workers: usize,
    /// Requests waiting for a worker; more get 503.
    pub queue: usize,
    /// From arrival to answer; past it, 503 while still queued, 504 once answering.
    pub timeout: Duration,
    /// Document batch bodies above this many bytes get 413.
    pub max_documents_bytes: usize,
    /// The same for a document batch (encoding takes longer than answering).
    pub update_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 256 * 1024,
            max_question_chars: 2000,
            max_batch: 64,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 64,
            timeout: Duration::from_secs(30),
            max_documents_bytes: 16 << 20,
            update_timeout: Duration::from_secs(600),
        }
    }
}

/// Counts one waiting request for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The bounded worker pool for model work.
pub struct Gate {
    permits: Arc<Semaphore>,
    workers: usize,
    queue: usize,
    waiting: AtomicUsize,
    timeout: Duration,
}

impl Gate {
    pub fn new(limits: &Limits) -> Gate {
        let workers = limits.workers.max(1);
        Gate {
            permits: Arc::new(Semaphore::new(workers)),
            workers,
            queue: limits.queue,
            waiting: AtomicUsize::new(0),
            timeout: limits.timeout,
        }
    }

    /// Requests waiting for a worker now.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.workers - self.permits.available_permits()
    }

    /// Runs `work` on a blocking thread once a worker is free. A panic in
    /// `work` becomes a 500 with a logged error id; the server goes on.
    /// Work whose request timed out still runs to its end and keeps its
    /// worker until then, so the limit on concurrent model work holds.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.run_within(self.timeout, work).await
    }

    /// [`Gate::run`] with its own time limit.
    pub async fn run_within<T: Send + 'static>(
        &self,
        timeout: Duration,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let deadline = Instant::now() + timeout;
        let permit = {
            let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
            let _w = Waiting(&self.waiting);
            if ahead >= self.queue {
                return Err(ApiError::overloaded(
                    format!("the server is busy ({ahead} requests waiting); retry later"),
                    self.retry_after(),
                ));
            }
            match timeout_at(deadline, self.permits.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(ApiError::internal("the worker pool was closed")),
                Err(_) => {
                    return Err(ApiError::overloaded(
                        format!(
                            "no worker became free within {:.1} s; retry later",
                            timeout.as_secs_f64()
                        ),
                        self.retry_after(),
                    ))
                }
            }
        };
        let task = tokio::task::spawn_blocking(move || {
            let _held = permit;
            work()
        });
        match timeout_at(deadline, task).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.is_panic() => Err(ApiError::internal(&format!(
                "panic while answering: {}",
                panic_message(e.into_panic())
            ))),
            Ok(Err(e)) => Err(ApiError::internal(&format!("answering task failed: {e}"))),
            Err(_) => Err(ApiError::timeout(timeout.as_secs_f64())),
        }
    }

    /// Seconds a turned-away client should wait: about one queue's worth of work.
    fn retry_after(&self) -> u64 {
        (1 + self.queue / self.workers / 8) as u64
    }
}

/// The text of a panic payload.
pub fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(workers: usize, queue: usize, ms: u64) -> Arc<Gate> {
        Arc::new(Gate::new(&Limits {
            workers,
            queue,
            timeout: Duration::from_millis(ms),
            ..Limits::default()
        }))
    }

    #[tokio::test]
    async fn a_panic_becomes_an_internal_error_and_the_gate_still_works() {
        let g = gate(1, 4, 5000);
        let e = g.run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert_eq!(e.status, 500);
        assert!(e.detail.id.is_some());
        assert_eq!(g.run(|| 7).await.unwrap(), 7);
        assert_eq!(g.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_turns_requests_away_with_retry_after() {
        let g = gate(1, 1, 5000);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let g = g.clone();
            tokio::spawn(async move { g.run(move || rx.recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = {
            let g = g.clone();
            tokio::spawn(async move { g.run(|| 1).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(g.queue_depth(), 1);
        let e = g.run(|| 2).await.unwrap_err();
        assert_eq!(e.status, 503);
        assert!(e.retry_after.is_some());
        tx.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert_eq!(waiting.await.unwrap().unwrap(), 1);
    }

    #[tokio::test]
    async fn slow_work_times_out_but_keeps_its_worker_until_done() {
        let g = gate(1, 4, 100);
        let e = g
            .run(|| std::thread::sleep(Duration::from_millis(400)))
            .await
            .unwrap_err();
        assert_eq!(e.status, 504);
        assert_eq!(
            g.in_flight(),
            1,
            "the timed-out work still holds its worker"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(g.in_flight(), 0);
    }
}

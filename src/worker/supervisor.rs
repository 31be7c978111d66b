//! The worker supervisor: runs each registered task, restarts one that fails or panics
//! (with exponential backoff, logged and counted), and stops them all on shutdown.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;

/// First delay before restarting a failed task.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// Longest delay between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A task that ran this long before failing starts again from the shortest delay.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Starts, restarts and stops the background tasks of one process.
pub struct Supervisor {
    shutdown: CancellationToken,
    tracker: TaskTracker,
    metrics: Metrics,
    backoff: (Duration, Duration),
}

impl Supervisor {
    /// A supervisor whose tasks stop when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken, metrics: Metrics) -> Self {
        Self {
            shutdown,
            tracker: TaskTracker::new(),
            metrics,
            backoff: (MIN_BACKOFF, MAX_BACKOFF),
        }
    }

    /// Overrides the restart backoff bounds (tests use short ones).
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max);
        self
    }

    /// Runs `task` until shutdown. The task gets a token to watch and should return `Ok`
    /// once it is cancelled; returning an error or panicking gets it restarted.
    pub fn register<F, Fut>(&self, name: &'static str, task: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        let metrics = self.metrics.clone();
        let (min, max) = self.backoff;
        self.tracker.spawn(async move {
            let mut delay = min;
            loop {
                let started = Instant::now();
                let outcome = tokio::spawn(task(shutdown.clone())).await;
                if shutdown.is_cancelled() {
                    if let Ok(Err(err)) = &outcome {
                        tracing::warn!(
                            task = name,
                            error = crate::telemetry::error_chain(err.as_ref()),
                            "task failed while stopping"
                        );
                    }
                    break;
                }
                match outcome {
                    Ok(Ok(())) => tracing::warn!(task = name, "task returned before shutdown"),
                    Ok(Err(err)) => {
                        tracing::error!(
                            task = name,
                            error = crate::telemetry::error_chain(err.as_ref()),
                            "task failed"
                        )
                    }
                    Err(join) if join.is_panic() => tracing::error!(task = name, "task panicked"),
                    Err(_) => tracing::error!(task = name, "task was cancelled"),
                }
                if started.elapsed() >= STABLE_AFTER {
                    delay = min;
                }
                metrics.task_restarted(name);
                tracing::info!(
                    task = name,
                    delay_ms = delay.as_millis() as u64,
                    "restarting task"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => break,
                }
                delay = (delay * 2).min(max);
            }
        });
    }

    /// Cancels every task and waits up to `grace` for them to return; true if all did.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        let stopped = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        if !stopped {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "tasks still running after the grace period"
            );
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn supervisor() -> (Supervisor, CancellationToken, Metrics) {
        let token = CancellationToken::new();
        let metrics = Metrics::new();
        let supervisor = Supervisor::new(token.clone(), metrics.clone())
            .with_backoff(Duration::from_millis(1), Duration::from_millis(5));
        (supervisor, token, metrics)
    }

    async fn wait_until(mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "condition not met in time");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn a_failing_task_is_restarted_until_it_runs() {
        let (supervisor, _token, metrics) = supervisor();
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        supervisor.register("flaky", move |shutdown| {
            let counter = counter.clone();
            async move {
                let run = counter.fetch_add(1, Ordering::SeqCst);
                match run {
                    0 => anyhow::bail!("first run fails"),
                    1 => panic!("second run panics"),
                    _ => {
                        shutdown.cancelled().await;
                        Ok(())
                    }
                }
            }
        });
        wait_until(|| runs.load(Ordering::SeqCst) >= 3).await;
        assert!(supervisor.shutdown(Duration::from_secs(1)).await);
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert!(
            metrics
                .render()
                .contains("bilet_worker_task_restarts_total{task=\"flaky\"} 2")
        );
    }

    #[tokio::test]
    async fn shutdown_waits_for_a_task_to_finish_its_work() {
        let (supervisor, _token, _) = supervisor();
        let finished = Arc::new(AtomicU32::new(0));
        let flag = finished.clone();
        supervisor.register("slow", move |shutdown| {
            let flag = flag.clone();
            async move {
                shutdown.cancelled().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                flag.store(1, Ordering::SeqCst);
                Ok(())
            }
        });
        assert!(supervisor.shutdown(Duration::from_secs(2)).await);
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn shutdown_gives_up_after_the_grace_period() {
        let (supervisor, _token, _) = supervisor();
        supervisor.register("stuck", |_shutdown| async {
            std::future::pending::<()>().await;
            Ok(())
        });
        assert!(!supervisor.shutdown(Duration::from_millis(50)).await);
    }
}

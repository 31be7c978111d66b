//! Structured logs with `tracing`: human-readable or one JSON object per line.
//! Ids go in fields; personal data, tokens and phone numbers never do.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{LogFormat, LogSettings};

/// Installs the process-wide subscriber; a second call (tests) is ignored.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.format {
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// Remembers which dependencies are down, so that their state is logged when it changes
/// and not at every readiness probe (a load balancer probes every few seconds, and a
/// Redis outage would otherwise flood the log).
#[derive(Debug, Default)]
pub struct DependencyWatch {
    down: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
}

impl DependencyWatch {
    /// Records a probe of `name`; logs only a change: a warning when it goes down, a
    /// note when it is back.
    pub fn observe(&self, name: &'static str, probe: Result<(), &dyn std::fmt::Display>) {
        let mut down = match self.down.lock() {
            Ok(down) => down,
            // A panic elsewhere while holding it leaves a set that is still valid.
            Err(poisoned) => poisoned.into_inner(),
        };
        match probe {
            Err(reason) if down.insert(name) => {
                tracing::warn!(dependency = name, reason = %reason, "dependency down");
            }
            Ok(()) if down.remove(name) => {
                tracing::info!(dependency = name, "dependency back");
            }
            _ => {}
        }
    }
}

/// An error and its causes on one line, each said once: `a: b: c`. Error types often
/// repeat their source in their own message as well as returning it from `source()`
/// (`database error: {0}`), so printing the chain as it is says the same thing two or
/// three times; a cause whose message the line already holds is left out.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        let message = next.to_string();
        if !message.is_empty() && !line.contains(&message) {
            line.push_str(": ");
            line.push_str(&message);
        }
        cause = next.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let store = crate::store::StoreError::from(sqlx::Error::Io(io));
        let err = anyhow::Error::new(store).context("claiming deliveries");
        let repeated = format!("{err:#}");
        assert!(
            repeated.matches("connection reset").count() > 1,
            "the plain chain repeats itself: {repeated}"
        );
        let line = error_chain(err.as_ref());
        assert_eq!(line.matches("connection reset").count(), 1, "{line}");
        assert!(
            line.starts_with("claiming deliveries: database error"),
            "{line}"
        );
    }
}

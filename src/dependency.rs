//! A service the process depends on (PostgreSQL, Redis) that could not be reached. Below
//! every layer that connects to one, so none of them imports the application's startup.

/// A dependency that could not be reached at startup.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {service} at {address} ({setting}): {reason}")]
pub struct DependencyError {
    pub service: &'static str,
    pub setting: &'static str,
    pub address: String,
    pub reason: String,
}

impl DependencyError {
    pub fn postgres(address: String, reason: String) -> Self {
        Self {
            service: "PostgreSQL",
            setting: "BILET_DATABASE_URL",
            address,
            reason,
        }
    }

    pub fn redis(address: String, reason: String) -> Self {
        Self {
            service: "Redis",
            setting: "BILET_REDIS_URL",
            address,
            reason,
        }
    }
}

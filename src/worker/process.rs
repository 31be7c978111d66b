//! Who this process is, among all the service's processes.

use chrono::{DateTime, Utc};

/// Who this process is, among all the service's processes.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// Unique across processes and machines; the consumer name in stream groups.
    pub name: String,
    pub role: ProcessRole,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    /// `bilet serve`: the API, with or without workers.
    Api,
    /// `bilet work`: workers only.
    Worker,
    /// A one-off command (`bilet admin …`): it sends nothing, so it opens no channel and
    /// starts no simulator.
    Admin,
}

impl ProcessRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessRole::Api => "api",
            ProcessRole::Worker => "worker",
            ProcessRole::Admin => "admin",
        }
    }
}

impl ProcessInfo {
    pub fn new(role: ProcessRole) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned());
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Self {
            name: format!("{host}-{}-{}-{suffix}", role.as_str(), std::process::id()),
            role,
            started_at: Utc::now(),
        }
    }
}

//! What every handler and worker shares: the application's state, built by `startup`
//! and read by the layers above it (`api`, `pages`, `admin`, `demo`). It lives apart from
//! `startup` so that those layers do not import the module that builds them.

use std::sync::Arc;

use crate::diagnostics::Catalog;
use crate::metrics::Metrics;
use crate::notify::hub::Hub;
use crate::notify::providers::Channels;
use crate::notify::streams::Streams;
use crate::notify::templates::Templates;
use crate::privacy::Vault;
use crate::queue::Redis;
use crate::security::blind_index::BlindIndex;
use crate::security::tokens::TokenSigner;
use crate::settings::Settings;
use crate::store::Db;
use crate::worker::process::ProcessInfo;

/// What every handler and worker shares.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub redis: Redis,
    pub metrics: Metrics,
    pub process: ProcessInfo,
    /// Encrypts and decrypts personal data at rest.
    pub vault: Vault,
    /// Keyed digests: the SNILS registry, codes, rate-limit keys.
    pub index: BlindIndex,
    /// Signs and verifies access tokens.
    pub tokens: TokenSigner,
    /// The delivery channels (in-process simulators for those without credentials).
    pub channels: Arc<Channels>,
    /// The hub's message templates.
    pub templates: Arc<Templates>,
    /// The test definitions, validated at startup.
    pub catalog: Arc<Catalog>,
    /// Writes answers to attempts answered before, many in one commit.
    pub answer_writer: Arc<crate::diagnostics::attempts::AnswerWriter>,
    /// Which dependencies the readiness probe last found down.
    pub dependencies: Arc<crate::telemetry::DependencyWatch>,
    /// This database's installation id, which owns the Redis key prefix.
    pub installation: uuid::Uuid,
    /// Set while another installation holds the prefix: the workers stop consuming and
    /// `/ready` answers 503.
    pub prefix_lost: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// What the hub's tasks share, taken from the application's state.
    pub fn hub(&self) -> Hub {
        Hub {
            db: self.db.clone(),
            streams: Streams::new(self.redis.clone()),
            templates: self.templates.clone(),
            channels: self.channels.clone(),
            catalog: self.catalog.clone(),
            vault: self.vault.clone(),
            index: self.index.clone(),
            settings: self.settings.hub.clone(),
            metrics: self.metrics.clone(),
            consumer: self.process.name.clone(),
            installation: self.installation,
            prefix_lost: self.prefix_lost.clone(),
        }
    }
}

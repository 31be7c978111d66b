//! Building the service from settings: connect to PostgreSQL and Redis (failing fast with
//! one clear line), migrate, bind, and run the API and the workers until shutdown.
//! `main` and the tests start the service the same way, through [`Application`].

use std::net::SocketAddr;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Response, Server};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::diagnostics::attempts::AnswerWriter;
use crate::diagnostics::{Catalog, CatalogError};
use crate::metrics::Metrics;
use crate::notify::providers::{Channels, ChannelsError};
use crate::notify::templates::{TemplateError, Templates};
use crate::privacy::Vault;
use crate::queue;
use crate::security::blind_index::BlindIndex;
use crate::security::cipher::Cipher;
use crate::security::keys::{KeyError, Keys};
use crate::security::tokens::TokenSigner;
use crate::settings::Settings;
use crate::store;
use crate::worker::{self, Supervisor};
use crate::{api, http};

pub use crate::dependency::DependencyError;
use crate::state::AppState;
pub use crate::worker::process::{ProcessInfo, ProcessRole};

/// Why the service did not start; each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Dependency(#[from] DependencyError),
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Channels(#[from] ChannelsError),
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("cannot listen on {addr} (BILET_HTTP_ADDR): {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("cannot listen on {addr} (BILET_HTTP_METRICS_ADDR): {reason}")]
    BindMetrics { addr: SocketAddr, reason: String },
    #[error(
        "the Redis prefix `{prefix}` (BILET_REDIS_PREFIX) belongs to installation {holder}, \
         but this database is installation {ours}: give each deployment its own prefix"
    )]
    PrefixTaken {
        prefix: String,
        holder: String,
        ours: uuid::Uuid,
    },
    #[error("cannot read this database's installation id: {0}")]
    Installation(#[from] store::StoreError),
}

/// Connects to PostgreSQL (creating and migrating the database) and Redis.
pub async fn connect(settings: Settings, role: ProcessRole) -> Result<AppState, StartupError> {
    let catalog = Arc::new(Catalog::embedded()?);
    let db = store::connect(&settings.database).await?;
    store::migrate(&db).await?;
    let redis = queue::connect(&settings.redis).await?;
    let installation = store::installation::id(&db).await?;
    let claim = redis
        .claim_prefix(installation)
        .await
        .map_err(|err| DependencyError::redis(settings.redis.address(), err.to_string()))?;
    if let queue::PrefixClaim::Theirs(holder) = claim {
        return Err(StartupError::PrefixTaken {
            prefix: redis.keys.prefix().to_owned(),
            holder,
            ours: installation,
        });
    }
    let keys = Keys::load(&settings.keys, settings.env)?;
    let templates = Arc::new(Templates::load(&settings.hub.templates_dir)?);
    let channels = Arc::new(match role {
        ProcessRole::Admin => Channels::none(),
        ProcessRole::Api | ProcessRole::Worker => Channels::start(&settings).await?,
    });
    let answer_writer = Arc::new(AnswerWriter::start(db.clone()));
    Ok(AppState {
        vault: Vault::new(Cipher::new(keys.data.clone())),
        index: BlindIndex::new(&keys.index),
        tokens: TokenSigner::new(keys.token.clone(), settings.auth.access_token_ttl),
        settings: Arc::new(settings),
        db,
        redis,
        metrics: Metrics::new(),
        process: ProcessInfo::new(role),
        channels,
        templates,
        catalog,
        answer_writer,
        dependencies: Arc::default(),
        installation,
        prefix_lost: Arc::default(),
    })
}

/// A layer put around everything the public listener serves, outside every edge layer,
/// so it sees each response exactly as the client gets it.
pub type OuterLayer =
    Box<dyn FnOnce(BoxEndpoint<'static, Response>) -> BoxEndpoint<'static, Response> + Send>;

/// The API (and, unless disabled, the workers) bound and ready to run.
pub struct Application {
    state: AppState,
    listener: TcpListener,
    addr: SocketAddr,
    /// The listener serving only `/metrics`, when the settings give it an address.
    metrics: Option<(TcpListener, SocketAddr)>,
    workers: bool,
    outer: Option<OuterLayer>,
}

impl Application {
    /// Connects, migrates and binds; the port is taken when this returns.
    pub async fn build(settings: Settings, workers: bool) -> Result<Self, StartupError> {
        let addr = settings.http.addr;
        let state = connect(settings, ProcessRole::Api).await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|err| StartupError::Bind {
                addr,
                reason: err.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|err| StartupError::Bind {
            addr,
            reason: err.to_string(),
        })?;
        let metrics = match state.settings.http.metrics_addr {
            Some(wanted) => {
                let bind_error = |err: std::io::Error| StartupError::BindMetrics {
                    addr: wanted,
                    reason: err.to_string(),
                };
                let listener = TcpListener::bind(wanted).await.map_err(bind_error)?;
                let bound = listener.local_addr().map_err(bind_error)?;
                Some((listener, bound))
            }
            None => None,
        };
        Ok(Self {
            state,
            listener,
            addr,
            metrics,
            workers,
            outer: None,
        })
    }

    /// Serves the public listener through `layer`, outermost. The integration tests use
    /// it to check every response against the published contract.
    pub fn with_outer_layer(mut self, layer: OuterLayer) -> Self {
        self.outer = Some(layer);
        self
    }

    /// The address actually bound (the real port when the settings asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the metrics listener, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets in-flight requests
    /// and worker tasks finish within the grace period, and returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let grace = self.state.settings.http.shutdown_grace;
        let supervisor = Supervisor::new(shutdown.child_token(), self.state.metrics.clone());
        if self.workers {
            register_workers(&supervisor, &self.state);
        }
        let edge = http::Edge {
            metrics: self.state.metrics.clone(),
            body_limit: self.state.settings.http.body_limit,
            db: self.state.db.clone(),
            tokens: self.state.tokens.clone(),
            routes: api::route_table(),
        };
        let routes = api::routes(&self.state).data(self.state.clone());
        let app = http::wrap(routes, &edge).boxed();
        let app = match self.outer {
            Some(layer) => layer(app),
            None => app,
        };
        tracing::info!(
            addr = %self.addr,
            metrics_addr = ?self.metrics.as_ref().map(|(_, addr)| *addr),
            workers = self.workers,
            process = %self.state.process.name,
            "bilet is serving"
        );
        let public = Server::new_with_acceptor(TcpAcceptor::from_tokio(self.listener)?)
            .run_with_graceful_shutdown(app, shutdown.clone().cancelled_owned(), Some(grace));
        let metrics = async {
            let Some((listener, _)) = self.metrics else {
                return Ok(());
            };
            let routes = api::metrics_routes().data(self.state.clone());
            let app = http::wrap(routes, &edge);
            Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
                .run_with_graceful_shutdown(app, shutdown.clone().cancelled_owned(), Some(grace))
                .await
        };
        tokio::try_join!(public, metrics)?;
        supervisor.shutdown(grace).await;
        self.state.db.close().await;
        tracing::info!("bilet stopped");
        Ok(())
    }
}

/// `bilet work`: the workers alone, until `shutdown` is cancelled.
pub async fn run_workers(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let grace = state.settings.http.shutdown_grace;
    let supervisor = Supervisor::new(shutdown.clone(), state.metrics.clone());
    register_workers(&supervisor, &state);
    tracing::info!(process = %state.process.name, "bilet workers running");
    shutdown.cancelled().await;
    supervisor.shutdown(grace).await;
    state.db.close().await;
    tracing::info!("bilet workers stopped");
    Ok(())
}

/// Registers every background task of the service; `serve` and `work` both call this.
pub fn register_workers(supervisor: &Supervisor, state: &AppState) {
    let presence = worker::presence::Presence::new(state.redis.clone(), state.process.clone());
    supervisor.register("presence", move |shutdown| {
        let presence = presence.clone();
        async move { presence.run(shutdown).await }
    });
    let (db, index) = (state.db.clone(), state.index.clone());
    supervisor.register("erasure", move |shutdown| {
        crate::privacy::erasure::run(db.clone(), index.clone(), shutdown)
    });
    let db = state.db.clone();
    supervisor.register("signup-deadlines", move |shutdown| {
        crate::participation::deadlines::run(db.clone(), shutdown)
    });
    let db = state.db.clone();
    supervisor.register("event-reminders", move |shutdown| {
        crate::participation::reminders::run(db.clone(), shutdown)
    });
    let db = state.db.clone();
    supervisor.register("idempotency-janitor", move |shutdown| {
        http::idempotency::purge_expired(db.clone(), shutdown)
    });
    state.hub().register(supervisor);
    let (db, catalog) = (state.db.clone(), state.catalog.clone());
    let rules = crate::diagnostics::Rules::from(&state.settings.diagnostics);
    supervisor.register("test-deadlines", move |shutdown| {
        crate::diagnostics::deadlines::run(db.clone(), catalog.clone(), rules, shutdown)
    });
}

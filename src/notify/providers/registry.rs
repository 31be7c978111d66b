//! The channel registry the hub sends through: one client per channel, built from the
//! channel settings; a channel without credentials gets an in-process simulator (never in
//! production). Startup says for each channel, in one line, where it delivers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::apns::ApnsClient;
use super::config::PushConfig;
use super::email::{EmailClient, EmailConfig};
use super::fcm::{FcmClient, FcmConfig};
use super::rustore::{RustoreClient, RustoreConfig};
use super::sms::{SmsClient, SmsConfig};
use super::{Channel, ChannelKind, ConfigError, OutboundMessage, SendError, SendResult};
use crate::settings::{Environment, Settings};

/// Why the channels could not be set up; each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "channel {0} has no credentials; in production configure them or set `enabled = false`"
    )]
    MissingCredentials(ChannelKind),
    #[error("channel {channel}: {reason}")]
    Client {
        channel: ChannelKind,
        reason: String,
    },
    #[cfg(feature = "simulators")]
    #[error(transparent)]
    Simulator(#[from] crate::simulators::SimulatorError),
    #[cfg(not(feature = "simulators"))]
    #[error(
        "channel {0} has no credentials, and this build has no simulators (built without the \
         `simulators` feature): configure it or set `enabled = false`"
    )]
    NoSimulators(ChannelKind),
}

/// Where a channel delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelMode {
    /// The real provider, e.g. `api.push.apple.com (team X)`.
    Provider(String),
    /// An in-process simulator; its inspection API is at `inspect`.
    Simulator {
        addr: SocketAddr,
        inspect: SocketAddr,
    },
    /// Turned off in the settings.
    Disabled,
}

impl std::fmt::Display for ChannelMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelMode::Provider(description) => f.write_str(description),
            ChannelMode::Simulator { addr, inspect } if addr == inspect => {
                write!(f, "simulator at {addr}")
            }
            ChannelMode::Simulator { addr, inspect } => {
                write!(f, "simulator at {addr} (inspection at {inspect})")
            }
            ChannelMode::Disabled => f.write_str("disabled"),
        }
    }
}

/// The delivery channels of this process.
pub struct Channels {
    clients: BTreeMap<ChannelKind, Arc<dyn Channel>>,
    modes: BTreeMap<ChannelKind, ChannelMode>,
    #[cfg(feature = "simulators")]
    simulators: Option<crate::simulators::Simulators>,
}

impl Channels {
    /// Reads the channel settings `settings` names (`BILET_PUSH_CONFIG`), builds the
    /// clients and starts a simulator for each channel without credentials.
    pub async fn start(settings: &Settings) -> Result<Self, ChannelsError> {
        let config = PushConfig::load(&settings.push_config)?;
        Self::from_config(&config, settings.env).await
    }

    /// No channel at all, for a process that sends nothing (see `ProcessRole::Admin`).
    pub fn none() -> Self {
        Self {
            clients: BTreeMap::new(),
            modes: ChannelKind::ALL
                .into_iter()
                .map(|kind| (kind, ChannelMode::Disabled))
                .collect(),
            #[cfg(feature = "simulators")]
            simulators: None,
        }
    }

    /// Builds the channels of `config`; see [`Channels::start`].
    pub async fn from_config(config: &PushConfig, env: Environment) -> Result<Self, ChannelsError> {
        let mut unconfigured = Vec::new();
        for kind in ChannelKind::ALL {
            let (enabled, configured) = enabled_and_configured(config, kind);
            if enabled && !configured {
                if env == Environment::Production {
                    return Err(ChannelsError::MissingCredentials(kind));
                }
                unconfigured.push(kind);
            }
        }
        #[cfg(feature = "simulators")]
        let simulators = in_process::start(config, &unconfigured).await?;
        #[cfg(not(feature = "simulators"))]
        if let Some(kind) = unconfigured.first() {
            return Err(ChannelsError::NoSimulators(*kind));
        }
        let mut channels = Self {
            clients: BTreeMap::new(),
            modes: BTreeMap::new(),
            #[cfg(feature = "simulators")]
            simulators: None,
        };
        for kind in ChannelKind::ALL {
            #[cfg(feature = "simulators")]
            let built = match in_process::client(simulators.as_ref(), config, kind) {
                Some(built) => built,
                None => provider_client(config, kind),
            };
            #[cfg(not(feature = "simulators"))]
            let built = provider_client(config, kind);
            let built = built.map_err(|reason| ChannelsError::Client {
                channel: kind,
                reason,
            })?;
            let mode = match built {
                Some((client, mode)) => {
                    channels.clients.insert(kind, client);
                    mode
                }
                None => ChannelMode::Disabled,
            };
            tracing::info!(channel = kind.as_str(), "channel {kind}: {mode}");
            channels.modes.insert(kind, mode);
        }
        #[cfg(feature = "simulators")]
        {
            channels.simulators = simulators;
        }
        Ok(channels)
    }

    /// The channel's client, unless it is disabled.
    pub fn get(&self, kind: ChannelKind) -> Option<Arc<dyn Channel>> {
        self.clients.get(&kind).cloned()
    }

    /// Where the channel delivers.
    pub fn mode(&self, kind: ChannelKind) -> &ChannelMode {
        self.modes.get(&kind).unwrap_or(&ChannelMode::Disabled)
    }

    /// Sends through the message's channel; a disabled channel is a permanent failure.
    pub async fn send(&self, message: &OutboundMessage) -> SendResult {
        match self.clients.get(&message.channel) {
            Some(client) => client.send(message).await,
            None => Err(SendError::permanent(format!(
                "channel {} is disabled",
                message.channel
            ))),
        }
    }

    /// The in-process simulators, when any channel uses one (inspection in tests, demo).
    #[cfg(feature = "simulators")]
    pub fn simulators(&self) -> Option<&crate::simulators::Simulators> {
        self.simulators.as_ref()
    }

    /// Stops the in-process simulators (also done on drop).
    pub async fn shutdown(&self) {
        #[cfg(feature = "simulators")]
        if let Some(simulators) = &self.simulators {
            simulators.shutdown().await;
        }
    }
}

/// What a channel of the settings would do, found without starting anything (`bilet
/// doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelPlan {
    /// The real provider; its client was built, so key files were read and checked.
    Provider(String),
    /// No credentials: a simulator serves it (development only; production refuses).
    Simulator,
    /// Turned off in the settings.
    Disabled,
}

/// The plan for `kind` under `config`, or why its client cannot be built.
pub fn plan(config: &PushConfig, kind: ChannelKind) -> Result<ChannelPlan, String> {
    match enabled_and_configured(config, kind) {
        (false, _) => Ok(ChannelPlan::Disabled),
        (true, false) => Ok(ChannelPlan::Simulator),
        (true, true) => Ok(match provider_client(config, kind)? {
            Some((_, mode)) => ChannelPlan::Provider(mode.to_string()),
            None => ChannelPlan::Disabled,
        }),
    }
}

/// Whether the channel is on, and whether it has credentials of its own.
fn enabled_and_configured(config: &PushConfig, kind: ChannelKind) -> (bool, bool) {
    match kind {
        ChannelKind::Apns => (config.apns.enabled, config.apns.credentials.is_some()),
        ChannelKind::Fcm => (config.fcm.enabled, config.fcm.service_account.is_some()),
        ChannelKind::Rustore => (config.rustore.enabled, config.rustore.credentials.is_some()),
        ChannelKind::Sms => (config.sms.enabled, config.sms.api_id.is_some()),
        ChannelKind::Email => (config.email.enabled, config.email.relay.is_some()),
    }
}

type Built = Option<(Arc<dyn Channel>, ChannelMode)>;

/// The real client of a channel that has credentials; `None` when disabled.
fn provider_client(config: &PushConfig, kind: ChannelKind) -> Result<Built, String> {
    let host = |url: &str| {
        url.split("://")
            .nth(1)
            .unwrap_or(url)
            .trim_end_matches('/')
            .to_owned()
    };
    let built: (Arc<dyn Channel>, String) = match kind {
        ChannelKind::Apns => {
            let Some(credentials) = config
                .apns
                .credentials
                .clone()
                .filter(|_| config.apns.enabled)
            else {
                return Ok(None);
            };
            let team = credentials.team_id.clone();
            let client = ApnsClient::new(
                config
                    .apns
                    .client_config(config.apns.base_url.clone(), credentials),
            )
            .map_err(|err| err.to_string())?;
            (
                Arc::new(client),
                format!("{} (team {team})", host(&config.apns.base_url)),
            )
        }
        ChannelKind::Fcm => {
            let Some(account) = config
                .fcm
                .service_account
                .clone()
                .filter(|_| config.fcm.enabled)
            else {
                return Ok(None);
            };
            let project = account.project_id.clone();
            let client = FcmClient::new(FcmConfig {
                base_url: config.fcm.base_url.clone(),
                service_account: account,
                timeout: config.fcm.timeout,
            })
            .map_err(|err| err.to_string())?;
            (
                Arc::new(client),
                format!("{} (project {project})", host(&config.fcm.base_url)),
            )
        }
        ChannelKind::Rustore => {
            let Some((project_id, token)) = config
                .rustore
                .credentials
                .clone()
                .filter(|_| config.rustore.enabled)
            else {
                return Ok(None);
            };
            let description = format!("{} (project {project_id})", host(&config.rustore.base_url));
            let client = RustoreClient::new(RustoreConfig {
                base_url: config.rustore.base_url.clone(),
                project_id,
                service_token: token,
                timeout: config.rustore.timeout,
            })
            .map_err(|err| err.to_string())?;
            (Arc::new(client), description)
        }
        ChannelKind::Sms => {
            let Some(api_id) = config.sms.api_id.clone().filter(|_| config.sms.enabled) else {
                return Ok(None);
            };
            let client = SmsClient::new(SmsConfig {
                base_url: config.sms.base_url.clone(),
                api_id,
                sender: config.sms.sender.clone(),
                timeout: config.sms.timeout,
            })
            .map_err(|err| err.to_string())?;
            (Arc::new(client), host(&config.sms.base_url))
        }
        ChannelKind::Email => {
            let Some(relay) = config.email.relay.clone().filter(|_| config.email.enabled) else {
                return Ok(None);
            };
            let description = format!("smtp {}:{} ({})", relay.host, relay.port, relay.tls);
            let client = EmailClient::new(EmailConfig {
                host: relay.host,
                port: relay.port,
                tls: relay.tls,
                credentials: relay.credentials,
                from: config.email.from.clone(),
                timeout: config.email.timeout,
                pool_size: config.email.pool_size,
            })
            .map_err(|err| err.to_string())?;
            (Arc::new(client), description)
        }
    };
    Ok(Some((built.0, ChannelMode::Provider(built.1))))
}

/// Channels without credentials served by simulators in this process (development and
/// tests; a build without the `simulators` feature has none and refuses to start instead).
#[cfg(feature = "simulators")]
mod in_process {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::super::apns::ApnsClient;
    use super::super::config::{ApnsCredentials, PushConfig};
    use super::super::email::{EmailClient, EmailConfig, SmtpTls};
    use super::super::fcm::{FcmClient, FcmConfig, ServiceAccount};
    use super::super::rustore::{RustoreClient, RustoreConfig};
    use super::super::sms::{SmsClient, SmsConfig};
    use super::super::{Channel, ChannelKind, ConfigError};
    use super::{Built, ChannelMode, ChannelsError};
    use crate::settings::Secret;
    use crate::simulators::credentials::{self, SimCredentials};
    use crate::simulators::faults::Faults;
    use crate::simulators::{Binds, CredentialSource, Simulators};

    /// Starts a simulator for each unconfigured channel, if any.
    pub(super) async fn start(
        config: &PushConfig,
        unconfigured: &[ChannelKind],
    ) -> Result<Option<Simulators>, ChannelsError> {
        if unconfigured.is_empty() {
            return Ok(None);
        }
        let faults = match &config.simulators.rules_file {
            Some(path) => Faults::from_file(path).map_err(|err| ConfigError {
                origin: config.origin.clone(),
                problems: vec![err.to_string()],
            })?,
            None => Faults::default(),
        }
        .with_latency(config.simulators.latency);
        Ok(Some(
            Simulators::start(
                unconfigured,
                &Binds::ephemeral(),
                CredentialSource::Shared,
                Arc::new(faults),
            )
            .await?,
        ))
    }

    /// The client of a channel served by an in-process simulator; `None` for the others.
    pub(super) fn client(
        simulators: Option<&Simulators>,
        config: &PushConfig,
        kind: ChannelKind,
    ) -> Option<Result<Built, String>> {
        let simulators = simulators?;
        let simulator = simulators.get(kind)?;
        let mode = ChannelMode::Simulator {
            addr: simulator.addr,
            inspect: simulator.inspect_addr,
        };
        Some(
            simulator_client(
                config,
                kind,
                simulator.addr,
                Some(simulators.credentials()),
                simulators.fcm_token_uri(),
            )
            .map(|client| Some((client, mode))),
        )
    }

    /// The client of a channel pointed at its in-process simulator, with the simulator's
    /// credentials: the same client code as in production.
    fn simulator_client(
        config: &PushConfig,
        kind: ChannelKind,
        addr: SocketAddr,
        credentials: Option<&SimCredentials>,
        fcm_token_uri: Option<String>,
    ) -> Result<Arc<dyn Channel>, String> {
        let credentials = credentials.ok_or("the simulators have no credentials")?;
        let base_url = format!("http://{addr}");
        let client: Arc<dyn Channel> = match kind {
            ChannelKind::Apns => Arc::new(
                ApnsClient::new(config.apns.client_config(
                    base_url,
                    ApnsCredentials {
                        key_id: credentials::APNS_KEY_ID.to_owned(),
                        team_id: credentials::APNS_TEAM_ID.to_owned(),
                        key: Secret::new(credentials.apns_key_pem.clone()),
                    },
                ))
                .map_err(|err| err.to_string())?,
            ),
            ChannelKind::Fcm => Arc::new(
                FcmClient::new(FcmConfig {
                    base_url,
                    service_account: {
                        let account =
                            credentials.service_account(&fcm_token_uri.unwrap_or_default());
                        ServiceAccount {
                            project_id: account.project_id,
                            private_key_id: account.private_key_id,
                            private_key: account.private_key,
                            client_email: account.client_email,
                            token_uri: account.token_uri,
                        }
                    },
                    timeout: config.fcm.timeout,
                })
                .map_err(|err| err.to_string())?,
            ),
            ChannelKind::Rustore => Arc::new(
                RustoreClient::new(RustoreConfig {
                    base_url,
                    project_id: credentials::PROJECT_ID.to_owned(),
                    service_token: Secret::new(credentials.rustore_token.clone()),
                    timeout: config.rustore.timeout,
                })
                .map_err(|err| err.to_string())?,
            ),
            ChannelKind::Sms => Arc::new(
                SmsClient::new(SmsConfig {
                    base_url,
                    api_id: Secret::new(credentials.sms_api_id.clone()),
                    sender: config.sms.sender.clone(),
                    timeout: config.sms.timeout,
                })
                .map_err(|err| err.to_string())?,
            ),
            ChannelKind::Email => Arc::new(
                EmailClient::new(EmailConfig {
                    host: addr.ip().to_string(),
                    port: addr.port(),
                    tls: SmtpTls::None,
                    credentials: None,
                    from: config.email.from.clone(),
                    timeout: config.email.timeout,
                    pool_size: config.email.pool_size,
                })
                .map_err(|err| err.to_string())?,
            ),
        };
        Ok(client)
    }
}

//! The channel registry the hub sends through: one client per channel, built from the
//! channel settings; a channel without credentials gets an in-process simulator (never in
//! production). Startup says for each channel, in one line, where it delivers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::apns::ApnsClient;
use super::config::{ApnsCredentials, PushConfig};
use super::email::{EmailClient, EmailConfig, SmtpTls};
use super::fcm::{FcmClient, FcmConfig};
use super::rustore::{RustoreClient, RustoreConfig};
use super::sms::{SmsClient, SmsConfig};
use super::{Channel, ChannelKind, ConfigError, OutboundMessage, SendError, SendResult};
use crate::settings::{Environment, Secret, Settings};
use crate::simulators::credentials::{self, SimCredentials};
use crate::simulators::faults::Faults;
use crate::simulators::{Binds, CredentialSource, SimulatorError, Simulators};

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
    #[error(transparent)]
    Simulator(#[from] SimulatorError),
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
    simulators: Option<Simulators>,
}

impl Channels {
    /// Reads the channel settings `settings` names (`BILET_PUSH_CONFIG`), builds the
    /// clients and starts a simulator for each channel without credentials.
    pub async fn start(settings: &Settings) -> Result<Self, ChannelsError> {
        let config = PushConfig::load(&settings.push_config)?;
        Self::from_config(&config, settings.env).await
    }

    /// Builds the channels of `config`; see [`Channels::start`].
    pub async fn from_config(config: &PushConfig, env: Environment) -> Result<Self, ChannelsError> {
        let mut unconfigured = Vec::new();
        for kind in ChannelKind::ALL {
            let (enabled, configured) = match kind {
                ChannelKind::Apns => (config.apns.enabled, config.apns.credentials.is_some()),
                ChannelKind::Fcm => (config.fcm.enabled, config.fcm.service_account.is_some()),
                ChannelKind::Rustore => {
                    (config.rustore.enabled, config.rustore.credentials.is_some())
                }
                ChannelKind::Sms => (config.sms.enabled, config.sms.api_id.is_some()),
                ChannelKind::Email => (config.email.enabled, config.email.relay.is_some()),
            };
            if enabled && !configured {
                if env == Environment::Production {
                    return Err(ChannelsError::MissingCredentials(kind));
                }
                unconfigured.push(kind);
            }
        }
        let simulators = if unconfigured.is_empty() {
            None
        } else {
            let faults = match &config.simulators.rules_file {
                Some(path) => Faults::from_file(path).map_err(|err| ConfigError {
                    origin: config.origin.clone(),
                    problems: vec![err.to_string()],
                })?,
                None => Faults::default(),
            };
            Some(
                Simulators::start(
                    &unconfigured,
                    &Binds::ephemeral(),
                    CredentialSource::Shared,
                    Arc::new(faults),
                )
                .await?,
            )
        };
        let mut channels = Self {
            clients: BTreeMap::new(),
            modes: BTreeMap::new(),
            simulators: None,
        };
        for kind in ChannelKind::ALL {
            let simulator = simulators.as_ref().and_then(|s| s.get(kind));
            let built = match simulator {
                Some(simulator) => {
                    let mode = ChannelMode::Simulator {
                        addr: simulator.addr,
                        inspect: simulator.inspect_addr,
                    };
                    let credentials = simulators.as_ref().map(Simulators::credentials);
                    let token_uri = simulators.as_ref().and_then(Simulators::fcm_token_uri);
                    simulator_client(config, kind, simulator.addr, credentials, token_uri)
                        .map(|client| Some((client, mode)))
                }
                None => provider_client(config, kind),
            };
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
        channels.simulators = simulators;
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
    pub fn simulators(&self) -> Option<&Simulators> {
        self.simulators.as_ref()
    }

    /// Stops the in-process simulators (also done on drop).
    pub async fn shutdown(&self) {
        if let Some(simulators) = &self.simulators {
            simulators.shutdown().await;
        }
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
            let description = format!("smtp {}:{} ({:?})", relay.host, relay.port, relay.tls);
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
                service_account: credentials.service_account(&fcm_token_uri.unwrap_or_default()),
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

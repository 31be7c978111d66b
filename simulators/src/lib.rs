//! Local stand-ins for the providers, speaking their real protocols: APNs (HTTP/2), FCM
//! HTTP v1 with its OAuth token endpoint, RuStore push, an SMS.ru-style gateway and an SMTP
//! server. Each is a real server on a local port that validates requests as the real
//! service does, keeps what it accepted for inspection over HTTP (`/sim/messages`), and
//! fails on purpose for recipients matching a fault rule. `bilet simulate` runs them all;
//! `bilet serve` starts one in-process for each channel that has no credentials.

pub mod apns;
pub mod credentials;
pub mod faults;
pub mod fcm;
pub mod inbox;
pub mod rustore;
pub mod server;
pub mod sms;
pub mod smtp;
pub mod tokens;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use credentials::{CredentialsError, SimCredentials};
use faults::Faults;
use inbox::Inbox;

pub use bilet_channels::{Binds, ChannelKind, SimulatorSettings};

/// Which credentials the simulators accept.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// The process-wide set (in-process simulators: the clients are given the same set).
    Shared,
    /// The set kept in this directory, made on first use (`bilet simulate`).
    Directory(PathBuf),
}

/// A simulator that could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("simulator {kind}: cannot listen on {addr}: {reason}")]
    Bind {
        kind: ChannelKind,
        addr: SocketAddr,
        reason: String,
    },
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

/// One running simulator.
pub struct RunningSimulator {
    pub kind: ChannelKind,
    /// Where the provider protocol is served.
    pub addr: SocketAddr,
    /// Where `/sim/messages` and `/sim/stats` are served (the same port, except SMTP).
    pub inspect_addr: SocketAddr,
    pub inbox: Arc<Inbox>,
}

impl RunningSimulator {
    /// The base URL a client uses (HTTP simulators).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The inspection API's base URL.
    pub fn inspect_url(&self) -> String {
        format!("http://{}", self.inspect_addr)
    }
}

/// A set of running simulators; they stop on [`Simulators::shutdown`] or when dropped.
pub struct Simulators {
    running: BTreeMap<ChannelKind, RunningSimulator>,
    credentials: SimCredentials,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Simulators {
    /// Binds and starts the simulators of `kinds`; every port is taken when this returns.
    pub async fn start(
        kinds: &[ChannelKind],
        binds: &Binds,
        source: CredentialSource,
        faults: Arc<Faults>,
    ) -> Result<Self, SimulatorError> {
        let mut listeners = BTreeMap::new();
        for kind in kinds {
            listeners.insert(*kind, bind(*kind, binds.host, binds.port(*kind)).await?);
        }
        let fcm_token_uri = match listeners.get(&ChannelKind::Fcm) {
            Some(listener) => {
                token_uri(listener.local_addr().map_err(|err| SimulatorError::Bind {
                    kind: ChannelKind::Fcm,
                    addr: SocketAddr::new(binds.host, binds.fcm),
                    reason: err.to_string(),
                })?)
            }
            None => String::new(),
        };
        let credentials = match source {
            CredentialSource::Shared => SimCredentials::shared()?.clone(),
            CredentialSource::Directory(dir) => {
                SimCredentials::load_or_create(&dir, &fcm_token_uri)?
            }
        };
        let shutdown = CancellationToken::new();
        // Stops what already started if a later simulator fails to.
        let started = shutdown.clone().drop_guard();
        let tracker = TaskTracker::new();
        let mut running = BTreeMap::new();
        for (kind, listener) in listeners {
            let inbox = Arc::new(Inbox::default());
            let faults = Arc::new(faults.fresh());
            let requested = SocketAddr::new(binds.host, binds.port(kind));
            let failed = |err: std::io::Error| SimulatorError::Bind {
                kind,
                addr: requested,
                reason: err.to_string(),
            };
            let handler = match kind {
                ChannelKind::Apns => {
                    let public_key = tokens::es256_public_key(&credentials.apns_key_pem)
                        .map_err(CredentialsError::from)?;
                    let trusted = apns::TrustedKey {
                        key_id: credentials::APNS_KEY_ID.to_owned(),
                        team_id: credentials::APNS_TEAM_ID.to_owned(),
                        public_key,
                    };
                    Some(
                        apns::ApnsSimulator::new(inbox.clone(), faults.clone(), vec![trusted])
                            .handler(),
                    )
                }
                ChannelKind::Fcm => {
                    let public_key = tokens::rs256_public_key(&credentials.fcm_key_pem)
                        .map_err(CredentialsError::from)?;
                    let trusted = fcm::TrustedAccount {
                        client_email: credentials::FCM_CLIENT_EMAIL.to_owned(),
                        key_id: credentials::FCM_KEY_ID.to_owned(),
                        project_id: credentials::PROJECT_ID.to_owned(),
                        public_key,
                    };
                    let simulator = fcm::FcmSimulator::new(
                        inbox.clone(),
                        faults.clone(),
                        vec![trusted],
                        fcm_token_uri.clone(),
                    );
                    Some(simulator.handler())
                }
                ChannelKind::Rustore => Some(
                    rustore::RustoreSimulator::new(
                        inbox.clone(),
                        faults.clone(),
                        credentials::PROJECT_ID.to_owned(),
                        credentials.rustore_token.clone(),
                    )
                    .handler(),
                ),
                ChannelKind::Sms => Some(
                    sms::SmsSimulator::new(
                        inbox.clone(),
                        faults.clone(),
                        credentials.sms_api_id.clone(),
                    )
                    .handler(),
                ),
                ChannelKind::Email => None,
            };
            let (addr, inspect_addr) = match handler {
                Some(handler) => {
                    let addr = server::spawn(listener, handler, shutdown.clone(), &tracker)
                        .map_err(failed)?;
                    (addr, addr)
                }
                None => {
                    let addr = smtp::SmtpSimulator::new(inbox.clone(), faults.clone())
                        .spawn(listener, shutdown.clone(), &tracker)
                        .map_err(failed)?;
                    let inspect = bind(kind, binds.host, binds.smtp_inspect).await?;
                    let inspect_inbox = inbox.clone();
                    let handler: server::Handler = Arc::new(move |request| {
                        let inbox = inspect_inbox.clone();
                        Box::pin(async move {
                            inbox
                                .inspect(&request)
                                .unwrap_or_else(|| server::Reply::text(404, "only /sim/ here"))
                        })
                    });
                    let inspect_addr = server::spawn(inspect, handler, shutdown.clone(), &tracker)
                        .map_err(failed)?;
                    (addr, inspect_addr)
                }
            };
            running.insert(
                kind,
                RunningSimulator {
                    kind,
                    addr,
                    inspect_addr,
                    inbox,
                },
            );
        }
        started.disarm();
        Ok(Self {
            running,
            credentials,
            shutdown,
            tracker,
        })
    }

    /// The running simulator of `kind`, if started.
    pub fn get(&self, kind: ChannelKind) -> Option<&RunningSimulator> {
        self.running.get(&kind)
    }

    /// Every running simulator, in channel order.
    pub fn iter(&self) -> impl Iterator<Item = &RunningSimulator> {
        self.running.values()
    }

    /// The credentials these simulators accept.
    pub fn credentials(&self) -> &SimCredentials {
        &self.credentials
    }

    /// The FCM simulator's OAuth token endpoint, if it runs.
    pub fn fcm_token_uri(&self) -> Option<String> {
        self.get(ChannelKind::Fcm).map(|sim| token_uri(sim.addr))
    }

    /// Channel settings (TOML) for a bilet in another process to deliver to these
    /// simulators through the production code path, with the credentials kept in `dir`.
    pub fn client_settings(&self, dir: &std::path::Path) -> String {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let file = |name: &str| dir.join(name).display().to_string();
        let mut text = String::from(
            "# Written by `bilet simulate`: real clients pointed at its simulators.\n",
        );
        if let Some(sim) = self.get(ChannelKind::Apns) {
            text.push_str(&format!(
                "\n[apns]\nendpoint = \"{}\"\nkey_id = \"{}\"\nteam_id = \"{}\"\nkey_file = {:?}\n",
                sim.base_url(),
                credentials::APNS_KEY_ID,
                credentials::APNS_TEAM_ID,
                file(credentials::APNS_KEY_FILE)
            ));
        }
        if let Some(sim) = self.get(ChannelKind::Fcm) {
            text.push_str(&format!(
                "\n[fcm]\nbase_url = \"{}\"\nservice_account_file = {:?}\n",
                sim.base_url(),
                file(credentials::FCM_ACCOUNT_FILE)
            ));
        }
        if let Some(sim) = self.get(ChannelKind::Rustore) {
            text.push_str(&format!(
                "\n[rustore]\nbase_url = \"{}\"\nproject_id = \"{}\"\ntoken_file = {:?}\n",
                sim.base_url(),
                credentials::PROJECT_ID,
                file(credentials::RUSTORE_TOKEN_FILE)
            ));
        }
        if let Some(sim) = self.get(ChannelKind::Sms) {
            text.push_str(&format!(
                "\n[sms]\nbase_url = \"{}\"\napi_id_file = {:?}\n",
                sim.base_url(),
                file(credentials::SMS_API_ID_FILE)
            ));
        }
        if let Some(sim) = self.get(ChannelKind::Email) {
            text.push_str(&format!(
                "\n[email]\nhost = \"{}\"\nport = {}\ntls = \"none\"\n",
                sim.addr.ip(),
                sim.addr.port()
            ));
        }
        text
    }

    /// Shell assignments of where each simulator's inspection API listens
    /// (`BILET_SIM_APNS=http://127.0.0.1:17001`, …, `BILET_SIM_EMAIL` for the e-mail
    /// simulator's inspection API) and `BILET_SIM_SMTP=host:port`, for scripts.
    pub fn addresses(&self) -> String {
        let mut text = String::from(
            "# Written by `bilet simulate`: where its simulators listen. Source it: . <this file>\n",
        );
        for simulator in self.iter() {
            text.push_str(&format!(
                "BILET_SIM_{}={}\n",
                simulator.kind.as_str().to_ascii_uppercase(),
                simulator.inspect_url()
            ));
        }
        if let Some(sim) = self.get(ChannelKind::Email) {
            text.push_str(&format!("BILET_SIM_SMTP={}\n", sim.addr));
        }
        text
    }

    /// Stops accepting, lets in-flight requests finish briefly, and waits for every task.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("simulators still running after 5s");
        }
    }
}

impl Drop for Simulators {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn token_uri(addr: SocketAddr) -> String {
    format!("http://{addr}/token")
}

async fn bind(kind: ChannelKind, host: IpAddr, port: u16) -> Result<TcpListener, SimulatorError> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr)
        .await
        .map_err(|err| SimulatorError::Bind {
            kind,
            addr,
            reason: if err.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "{err}; another `bilet simulate` may hold it: `bilet simulate --ports free` \
                     takes free ports, `--ports 27000` moves all six to 27001–27004, 27025, 27026"
                )
            } else {
                err.to_string()
            },
        })
}

/// `bilet simulate`: every simulator on the ports of `settings`, with the credentials kept
/// in its credentials directory, until `shutdown`. `announce` gets one line per simulator.
pub async fn run_all(
    settings: &SimulatorSettings,
    shutdown: CancellationToken,
    mut announce: impl FnMut(String),
) -> Result<(), RunError> {
    let faults = match &settings.rules_file {
        Some(path) => Faults::from_file(path)?,
        None => Faults::default(),
    }
    .with_latency(settings.latency);
    let simulators = Simulators::start(
        &ChannelKind::ALL,
        &settings.binds,
        CredentialSource::Directory(settings.credentials_dir.clone()),
        Arc::new(faults),
    )
    .await?;
    for simulator in simulators.iter() {
        let scheme = if simulator.kind == ChannelKind::Email {
            "smtp"
        } else {
            "http"
        };
        announce(format!(
            "{:<8} {scheme}://{}  inspect {}/sim/messages",
            simulator.kind.as_str(),
            simulator.addr,
            simulator.inspect_url()
        ));
    }
    let write = |name: &str, text: String| {
        let path = settings.credentials_dir.join(name);
        std::fs::write(&path, text).map_err(|err| RunError::Write {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        Ok::<_, RunError>(path)
    };
    let client_settings = write(
        CLIENT_SETTINGS_FILE,
        simulators.client_settings(&settings.credentials_dir),
    )?;
    let addresses = write(ADDRESSES_FILE, simulators.addresses())?;
    announce(format!(
        "client settings: BILET_PUSH_CONFIG={}",
        client_settings.display()
    ));
    announce(format!("addresses for a shell: . {}", addresses.display()));
    shutdown.cancelled().await;
    simulators.shutdown().await;
    Ok(())
}

/// The client settings file `bilet simulate` writes into its credentials directory.
pub const CLIENT_SETTINGS_FILE: &str = "channels.toml";

/// The shell file `bilet simulate` writes beside it: where each simulator listens.
pub use bilet_channels::SIMULATOR_ADDRESSES_FILE as ADDRESSES_FILE;

/// Why `bilet simulate` could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Rules(#[from] faults::RulesError),
    #[error(transparent)]
    Simulator(#[from] SimulatorError),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

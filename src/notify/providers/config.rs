//! The channel settings in `push-config/channels.toml` (the file `BILET_PUSH_CONFIG`
//! names): hosts, timeouts and where each secret is (a file path or an environment
//! variable, never the secret itself), validated with every problem reported at once. A
//! channel without credentials is served by its simulator.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::apns::{self, ApnsConfig};
use super::email::SmtpTls;
use super::fcm::{self, ServiceAccount};
use super::jwt::{Es256Key, Rs256Key};
use super::{rustore, sms};
use crate::settings::{Secret, parse_duration};

pub use bilet_channels::{Binds, Latency, SimulatorSettings};

pub use crate::settings::DEFAULT_PUSH_CONFIG as DEFAULT_PATH;

/// Every problem found in the channel settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub origin: String,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "channel settings {}: {}",
            self.origin,
            self.problems.join("; ")
        )
    }
}

/// The validated channel settings.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Where they came from, for messages.
    pub origin: String,
    pub simulators: SimulatorSettings,
    pub apns: ApnsSettings,
    pub fcm: FcmSettings,
    pub rustore: RustoreSettings,
    pub sms: SmsSettings,
    pub email: EmailSettings,
}

#[derive(Debug, Clone)]
pub struct ApnsSettings {
    pub enabled: bool,
    pub base_url: String,
    pub topic: String,
    pub timeout: Duration,
    pub token_refresh: Duration,
    pub credentials: Option<ApnsCredentials>,
}

/// An APNs token-auth key.
#[derive(Debug, Clone)]
pub struct ApnsCredentials {
    pub key_id: String,
    pub team_id: String,
    pub key: Secret,
}

impl ApnsSettings {
    /// The client settings for `base_url` with `credentials`.
    pub fn client_config(&self, base_url: String, credentials: ApnsCredentials) -> ApnsConfig {
        ApnsConfig {
            base_url,
            topic: self.topic.clone(),
            key_id: credentials.key_id,
            team_id: credentials.team_id,
            key: credentials.key,
            timeout: self.timeout,
            token_refresh: self.token_refresh,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FcmSettings {
    pub enabled: bool,
    pub base_url: String,
    pub timeout: Duration,
    pub service_account: Option<ServiceAccount>,
}

#[derive(Debug, Clone)]
pub struct RustoreSettings {
    pub enabled: bool,
    pub base_url: String,
    pub timeout: Duration,
    /// Project id and service token.
    pub credentials: Option<(String, Secret)>,
}

#[derive(Debug, Clone)]
pub struct SmsSettings {
    pub enabled: bool,
    pub base_url: String,
    pub timeout: Duration,
    pub sender: Option<String>,
    pub api_id: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub enabled: bool,
    pub from: String,
    pub timeout: Duration,
    pub pool_size: u32,
    /// The relay; none means the simulator.
    pub relay: Option<SmtpRelay>,
}

/// An SMTP relay to send through.
#[derive(Debug, Clone)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, Secret)>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFile {
    simulators: RawSimulators,
    apns: RawApns,
    fcm: RawFcm,
    rustore: RawRustore,
    sms: RawSms,
    email: RawEmail,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSimulators {
    host: Option<String>,
    apns_port: Option<u16>,
    fcm_port: Option<u16>,
    rustore_port: Option<u16>,
    sms_port: Option<u16>,
    smtp_port: Option<u16>,
    smtp_inspect_port: Option<u16>,
    credentials_dir: Option<PathBuf>,
    rules_file: Option<PathBuf>,
    latency: Option<String>,
    latency_jitter: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawApns {
    enabled: Option<bool>,
    endpoint: Option<String>,
    topic: Option<String>,
    timeout: Option<String>,
    token_refresh: Option<String>,
    key_id: Option<String>,
    team_id: Option<String>,
    key_file: Option<PathBuf>,
    key_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFcm {
    enabled: Option<bool>,
    base_url: Option<String>,
    timeout: Option<String>,
    service_account_file: Option<PathBuf>,
    service_account_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRustore {
    enabled: Option<bool>,
    base_url: Option<String>,
    timeout: Option<String>,
    project_id: Option<String>,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSms {
    enabled: Option<bool>,
    base_url: Option<String>,
    timeout: Option<String>,
    sender: Option<String>,
    api_id_file: Option<PathBuf>,
    api_id_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawEmail {
    enabled: Option<bool>,
    from: Option<String>,
    timeout: Option<String>,
    pool_size: Option<u32>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl PushConfig {
    /// Reads `path`. The default path may be missing (every channel then uses its
    /// simulator); any other path must exist. Secrets named by `*_env` are read from the
    /// process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound
                    && path == Path::new(DEFAULT_PATH) =>
            {
                String::new()
            }
            Err(err) => {
                return Err(ConfigError {
                    origin,
                    problems: vec![format!("cannot read: {err}")],
                });
            }
        };
        Self::parse(&text, &origin, |name| std::env::var(name).ok())
    }

    /// The settings with nothing configured: every channel on its simulator.
    pub fn defaults() -> Self {
        Self::parse("", "defaults", |_| None).expect("the defaults are valid")
    }

    /// Parses and validates settings text; `env` looks up the variables `*_env` keys name.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let fail = |problems: Vec<String>| ConfigError {
            origin: origin.to_owned(),
            problems,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|err| fail(vec![err.message().to_owned()]))?;
        let mut v = Validator {
            problems: Vec::new(),
            env: &env,
        };
        let mut duration = |key: &str, value: Option<&str>| match value.map(parse_duration) {
            None => Duration::ZERO,
            Some(Ok(duration)) => duration,
            Some(Err(reason)) => {
                v.problem(format!("simulators.{key}: {reason}"));
                Duration::ZERO
            }
        };
        let latency = Latency {
            base: duration("latency", raw.simulators.latency.as_deref()),
            jitter: duration("latency_jitter", raw.simulators.latency_jitter.as_deref()),
        };
        let simulators = SimulatorSettings {
            latency,
            binds: Binds {
                host: match raw.simulators.host.as_deref() {
                    None => IpAddr::from([127, 0, 0, 1]),
                    Some(host) => host.parse().unwrap_or_else(|_| {
                        v.problem(format!("simulators.host: `{host}` is not an IP address"));
                        IpAddr::from([127, 0, 0, 1])
                    }),
                },
                apns: raw.simulators.apns_port.unwrap_or(17001),
                fcm: raw.simulators.fcm_port.unwrap_or(17002),
                rustore: raw.simulators.rustore_port.unwrap_or(17003),
                sms: raw.simulators.sms_port.unwrap_or(17004),
                smtp: raw.simulators.smtp_port.unwrap_or(17025),
                smtp_inspect: raw.simulators.smtp_inspect_port.unwrap_or(17026),
            },
            credentials_dir: raw
                .simulators
                .credentials_dir
                .unwrap_or_else(|| PathBuf::from("push-config/simulator")),
            rules_file: raw.simulators.rules_file,
        };
        let apns = v.apns(raw.apns);
        let fcm = v.fcm(raw.fcm);
        let rustore = v.rustore(raw.rustore);
        let sms = v.sms(raw.sms);
        let email = v.email(raw.email);
        if !v.problems.is_empty() {
            return Err(fail(v.problems));
        }
        Ok(Self {
            origin: origin.to_owned(),
            simulators,
            apns,
            fcm,
            rustore,
            sms,
            email,
        })
    }
}

struct Validator<'a> {
    problems: Vec<String>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Validator<'_> {
    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    fn duration(&mut self, key: &str, value: Option<String>, default: Duration) -> Duration {
        match value {
            None => default,
            Some(text) => parse_duration(&text).unwrap_or_else(|reason| {
                self.problem(format!("{key}: {reason}"));
                default
            }),
        }
    }

    fn url(&mut self, key: &str, value: Option<String>, default: &str) -> String {
        let url = value.unwrap_or_else(|| default.to_owned());
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            self.problem(format!("{key}: `{url}` is not an http:// or https:// URL"));
        }
        url.trim_end_matches('/').to_owned()
    }

    /// A secret from a file or an environment variable; `None` when neither is named.
    fn secret(&mut self, key: &str, file: Option<PathBuf>, env: Option<String>) -> Option<Secret> {
        match (file, env) {
            (None, None) => None,
            (Some(_), Some(_)) => {
                self.problem(format!("{key}: give `{key}_file` or `{key}_env`, not both"));
                None
            }
            (Some(path), None) => match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => Some(Secret::new(text.trim().to_owned())),
                Ok(_) => {
                    self.problem(format!("{key}_file: {} is empty", path.display()));
                    None
                }
                Err(err) => {
                    self.problem(format!("{key}_file: cannot read {}: {err}", path.display()));
                    None
                }
            },
            (None, Some(name)) => match (self.env)(&name) {
                Some(value) if !value.trim().is_empty() => {
                    Some(Secret::new(value.trim().to_owned()))
                }
                _ => {
                    self.problem(format!(
                        "{key}_env: the environment variable {name} is not set"
                    ));
                    None
                }
            },
        }
    }

    fn apns(&mut self, raw: RawApns) -> ApnsSettings {
        let base_url = match raw.endpoint.as_deref() {
            None | Some("production") => apns::PRODUCTION_URL.to_owned(),
            Some("sandbox") => apns::SANDBOX_URL.to_owned(),
            Some(url) => self.url("apns.endpoint", Some(url.to_owned()), ""),
        };
        let token_refresh = self.duration(
            "apns.token_refresh",
            raw.token_refresh,
            Duration::from_secs(40 * 60),
        );
        let (low, high) = apns::TOKEN_REFRESH_RANGE;
        if !(low..=high).contains(&token_refresh) {
            self.problem("apns.token_refresh: must be from 20m to 50m (Apple refuses more frequent updates and tokens older than an hour)".into());
        }
        let key = self.secret("apns.key", raw.key_file, raw.key_env);
        let credentials = match (key, raw.key_id, raw.team_id) {
            (None, None, None) => None,
            (Some(key), Some(key_id), Some(team_id)) => {
                if let Err(err) = Es256Key::from_pem(key.expose()) {
                    self.problem(format!("apns.key: not a .p8 (PKCS#8 P-256) key: {err}"));
                }
                Some(ApnsCredentials {
                    key_id,
                    team_id,
                    key,
                })
            }
            _ => {
                self.problem("apns: key_id, team_id and key_file (or key_env) go together".into());
                None
            }
        };
        ApnsSettings {
            enabled: raw.enabled.unwrap_or(true),
            base_url,
            topic: raw.topic.unwrap_or_else(|| "ru.bilet.app".to_owned()),
            timeout: self.duration("apns.timeout", raw.timeout, DEFAULT_TIMEOUT),
            token_refresh,
            credentials,
        }
    }

    fn fcm(&mut self, raw: RawFcm) -> FcmSettings {
        let service_account = self
            .secret(
                "fcm.service_account",
                raw.service_account_file,
                raw.service_account_env,
            )
            .and_then(
                |json| match serde_json::from_str::<ServiceAccount>(json.expose()) {
                    Ok(account) => {
                        if let Err(err) = Rs256Key::from_pem(&account.private_key) {
                            self.problem(format!(
                                "fcm.service_account: the private key is not usable: {err}"
                            ));
                        }
                        Some(account)
                    }
                    Err(err) => {
                        // serde's message names the missing field, never the secret's content.
                        self.problem(format!(
                            "fcm.service_account: not a service-account JSON: {err}"
                        ));
                        None
                    }
                },
            );
        FcmSettings {
            enabled: raw.enabled.unwrap_or(true),
            base_url: self.url("fcm.base_url", raw.base_url, fcm::PRODUCTION_URL),
            timeout: self.duration("fcm.timeout", raw.timeout, DEFAULT_TIMEOUT),
            service_account,
        }
    }

    fn rustore(&mut self, raw: RawRustore) -> RustoreSettings {
        let token = self.secret("rustore.token", raw.token_file, raw.token_env);
        let credentials = match (raw.project_id, token) {
            (None, None) => None,
            (Some(project), Some(token)) => Some((project, token)),
            _ => {
                self.problem(
                    "rustore: project_id and token_file (or token_env) go together".into(),
                );
                None
            }
        };
        RustoreSettings {
            enabled: raw.enabled.unwrap_or(true),
            base_url: self.url("rustore.base_url", raw.base_url, rustore::PRODUCTION_URL),
            timeout: self.duration("rustore.timeout", raw.timeout, DEFAULT_TIMEOUT),
            credentials,
        }
    }

    fn sms(&mut self, raw: RawSms) -> SmsSettings {
        SmsSettings {
            enabled: raw.enabled.unwrap_or(true),
            base_url: self.url("sms.base_url", raw.base_url, sms::PRODUCTION_URL),
            timeout: self.duration("sms.timeout", raw.timeout, DEFAULT_TIMEOUT),
            sender: raw.sender,
            api_id: self.secret("sms.api_id", raw.api_id_file, raw.api_id_env),
        }
    }

    fn email(&mut self, raw: RawEmail) -> EmailSettings {
        let from = raw
            .from
            .unwrap_or_else(|| "Билет <noreply@bilet.local>".to_owned());
        if from.parse::<lettre::message::Mailbox>().is_err() {
            self.problem(format!(
                "email.from: `{from}` is not a mailbox like `Name <user@domain>`"
            ));
        }
        let tls = match raw.tls.as_deref() {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("implicit") => SmtpTls::Implicit,
            Some("none") => SmtpTls::None,
            Some(other) => {
                self.problem(format!(
                    "email.tls: `{other}` is not one of starttls, implicit, none"
                ));
                SmtpTls::StartTls
            }
        };
        let password = self.secret("email.password", raw.password_file, raw.password_env);
        let credentials = match (raw.username, password) {
            (None, None) => None,
            (Some(user), Some(password)) => Some((user, password)),
            _ => {
                self.problem(
                    "email: username and password_file (or password_env) go together".into(),
                );
                None
            }
        };
        let relay = match raw.host {
            Some(host) => Some(SmtpRelay {
                port: raw.port.unwrap_or(match tls {
                    SmtpTls::StartTls => 587,
                    SmtpTls::Implicit => 465,
                    SmtpTls::None => 25,
                }),
                host,
                tls,
                credentials,
            }),
            None => {
                if credentials.is_some() || raw.port.is_some() {
                    self.problem("email: port and credentials need `host`".into());
                }
                None
            }
        };
        EmailSettings {
            enabled: raw.enabled.unwrap_or(true),
            from,
            timeout: self.duration("email.timeout", raw.timeout, DEFAULT_TIMEOUT),
            pool_size: raw.pool_size.unwrap_or(64).clamp(1, 256),
            relay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_configured_means_simulators_everywhere() {
        let config = PushConfig::defaults();
        assert!(config.apns.credentials.is_none());
        assert!(config.fcm.service_account.is_none());
        assert!(config.rustore.credentials.is_none());
        assert!(config.sms.api_id.is_none());
        assert!(config.email.relay.is_none());
        assert_eq!(config.apns.base_url, apns::PRODUCTION_URL);
    }

    #[test]
    fn the_committed_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
        let text = std::fs::read_to_string(path).unwrap();
        let config = PushConfig::parse(&text, DEFAULT_PATH, |_| None).unwrap();
        assert!(config.apns.credentials.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once_and_secrets_come_from_env() {
        let text = r#"
            [apns]
            endpoint = "sandbox"
            key_id = "ABC"
            token_refresh = "5m"
            [sms]
            api_id_env = "TEST_SMS_API_ID"
            base_url = "ftp://x"
            [email]
            tls = "sometimes"
            [rustore]
            project_id = "p"
            token_env = "TEST_RUSTORE_TOKEN"
        "#;
        let env = |name: &str| (name == "TEST_RUSTORE_TOKEN").then(|| "tok".to_owned());
        let err = PushConfig::parse(text, "test", env).unwrap_err();
        let all = err.problems.join("\n");
        for expected in [
            "token_refresh",
            "key_id, team_id",
            "TEST_SMS_API_ID",
            "ftp://x",
            "sometimes",
        ] {
            assert!(all.contains(expected), "{expected} missing from {all}");
        }
        assert!(!all.contains("rustore"), "{all}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            PushConfig::parse("[apns]\nkey = \"inline secret\"\n", "test", |_| None).unwrap_err();
        assert!(err.problems[0].contains("unknown field"), "{err}");
    }
}

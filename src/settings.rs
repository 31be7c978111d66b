//! Typed settings: built-in defaults, overridden by an optional TOML file, overridden by
//! `BILET_*` environment variables; every invalid value is reported at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// The duration syntax every settings file shares (`500ms`, `30s`, `5m`, `1h`, `30d`).
pub use bilet_channels::parse_duration;

/// The file read when neither `--config` nor `BILET_CONFIG` names one and it exists.
pub const DEFAULT_FILE: &str = "bilet.toml";
/// The channel settings read when `BILET_PUSH_CONFIG` is not set.
pub const DEFAULT_PUSH_CONFIG: &str = "push-config/channels.toml";

/// Everything at `info`, except PostgreSQL's notices (such as "relation
/// `_sqlx_migrations` already exists, skipping" on every start), which only matter when
/// they warn.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Everything the service can be told, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub env: Environment,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub keys: KeySettings,
    pub auth: AuthSettings,
    pub privacy: PrivacySettings,
    /// The delivery-channel settings file (`push-config/channels.toml`).
    pub push_config: PathBuf,
    pub hub: HubSettings,
    pub diagnostics: DiagnosticsSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Address the API listens on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Largest request body accepted, counted on the bytes actually read.
    pub body_limit: usize,
    /// How long in-flight requests and worker tasks get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Where `/metrics` is served on a listener of its own (nothing else is served there).
    /// In production the public listener never serves `/metrics`, and this defaults to
    /// [`DEFAULT_METRICS_ADDR`]; in development `/metrics` is on the public listener too.
    pub metrics_addr: Option<SocketAddr>,
}

/// The metrics listener of a production deployment that names none: loopback only.
pub const DEFAULT_METRICS_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 9464);

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// One server's URL; for a cluster, one or more of its nodes' URLs separated by
    /// commas (the rest of the cluster is found from them).
    pub url: Secret,
    /// A Redis Cluster (`BILET_REDIS_CLUSTER=true`): keys are routed by hash slot.
    pub cluster: bool,
    /// Every key and stream this deployment uses starts with `{prefix}:`.
    pub prefix: String,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `bilet=debug,sqlx=warn`.
    pub filter: String,
}

/// Key material. Missing keys are generated into `dev_keys_file` in development; in
/// production every key must be given.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// Keys encrypting personal data at rest; the last one encrypts new values, the
    /// others still decrypt old ones until `bilet admin rotate-data-key` has run.
    pub data_keys: Option<KeyList>,
    /// The key of the blind index that keeps a SNILS unique without storing it in clear.
    pub index_key: Option<KeyList>,
    /// Keys signing access tokens (HS256); the last one signs, all verify (`kid`).
    pub token_keys: Option<KeyList>,
    pub dev_keys_file: PathBuf,
}

/// Accounts and sessions.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Lifetime of an access token (JWT); at most 15 minutes.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token, renewed at each rotation.
    pub refresh_token_ttl: Duration,
    /// Registration, verification and password-reset attempts per account (e-mail).
    pub limit_per_account: RateLimit,
    /// Login, registration, verification and password-reset attempts per client address.
    pub limit_per_address: RateLimit,
    /// Failed logins of an account answered at once; after them each attempt waits a
    /// delay that doubles from one second up to `login_max_delay`.
    pub login_free_failures: u32,
    /// The longest wait between login attempts of an account after failures.
    pub login_max_delay: Duration,
    /// Family-link code guesses per parent.
    pub link_code_guesses: RateLimit,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

/// Personal-data handling.
#[derive(Debug, Clone)]
pub struct PrivacySettings {
    /// How long after a personal-data consent is withdrawn the child's data is erased
    /// (at most 30 days, as 152-ФЗ requires).
    pub erasure_delay: Duration,
    /// Checks of a new SNILS against the registry per account (each profile save with a
    /// SNILS the account does not already hold), so the registry cannot be probed.
    pub snils_checks: RateLimit,
}

/// The notification hub.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Where families reach the service from outside (approval and unsubscribe links).
    pub public_url: String,
    /// The message templates.
    pub templates_dir: PathBuf,
    /// How long an approval request or an urgent notice waits, unseen, before the next
    /// channel is tried.
    pub escalation_delay: Duration,
    /// The first retry's delay; each next one doubles (with jitter), up to ten minutes.
    pub retry_base: Duration,
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: i32,
    /// How long a sender holds a delivery before it is presumed dead and the delivery is
    /// sent again.
    pub lease: Duration,
    /// A queued delivery or fan-out still not done after this long is queued again (its
    /// job was lost, e.g. when Redis lost its data).
    pub requeue_after: Duration,
    /// Jobs a consumer read but did not acknowledge for this long are taken over.
    pub claim_idle: Duration,
    /// The most messages in flight per channel per process (the sender's window adapts
    /// below it), and the rows claimed at a time.
    pub concurrency: usize,
    /// Jobs read per round.
    pub batch: usize,
    /// How long a sender gathers provider answers before recording them in one statement
    /// and commit (zero: each record takes what has arrived while the last was written).
    pub record_gather: Duration,
    /// Recipients a fan-out reads and writes at a time (its memory grows with this, not
    /// with the audience).
    pub fanout_page: usize,
}

/// Online tests.
#[derive(Debug, Clone)]
pub struct DiagnosticsSettings {
    /// After a timed test's deadline, how long answers made before it (by the client's
    /// clock, queued offline) are still taken; the attempt is scored only after it.
    pub offline_grace: Duration,
    /// An untimed attempt untouched this long is abandoned.
    pub abandon_after: Duration,
}

/// `count` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub window: Duration,
}

/// Named 256-bit keys, `id:base64,id:base64`; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyList(pub Vec<NamedKey>);

#[derive(Clone, PartialEq, Eq)]
pub struct NamedKey {
    pub id: String,
    pub key: [u8; 32],
}

impl fmt::Debug for KeyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.0.iter().map(|k| k.id.as_str()).collect();
        write!(f, "KeyList({ids:?})")
    }
}

impl KeyList {
    /// Parses `id:base64[,id:base64…]`; each key is 32 bytes of standard base64.
    pub fn parse(s: &str) -> Result<Self, String> {
        use base64::Engine as _;
        let mut keys = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, encoded) = part
                .split_once(':')
                .ok_or("write keys as id:base64, separated by commas")?;
            let valid_id = !id.is_empty()
                && id.len() <= 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_id {
                return Err(format!(
                    "key id `{id}` must be 1–32 letters, digits, `-` or `_`"
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| format!("key `{id}` is not base64"))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| format!("key `{id}` must be 32 bytes"))?;
            if keys.iter().any(|k: &NamedKey| k.id == id) {
                return Err(format!("key id `{id}` appears twice"));
            }
            keys.push(NamedKey {
                id: id.to_owned(),
                key,
            });
        }
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(Self(keys))
    }

    /// The key new values are written with.
    pub fn current(&self) -> &NamedKey {
        self.0.last().expect("a key list is never empty")
    }

    pub fn find(&self, id: &str) -> Option<&NamedKey> {
        self.0.iter().find(|k| k.id == id)
    }

    /// A fresh random key list of one key, for development and tests.
    pub fn generate(id: &str) -> Self {
        use rand::RngCore as _;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(vec![NamedKey {
            id: id.to_owned(),
            key,
        }])
    }

    /// The `id:base64,…` form `parse` reads.
    pub fn to_setting(&self) -> String {
        use base64::Engine as _;
        self.0
            .iter()
            .map(|k| {
                format!(
                    "{}:{}",
                    k.id,
                    base64::engine::general_purpose::STANDARD.encode(k.key)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl RateLimit {
    /// `10/15m`: ten per fifteen minutes.
    pub fn parse(s: &str) -> Result<Self, String> {
        let invalid = || format!("`{s}` is not a rate like 10/15m");
        let (count, window) = s.split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let window = parse_duration(window.trim()).map_err(|_| invalid())?;
        if count == 0 || window.is_zero() {
            return Err(invalid());
        }
        Ok(Self { count, window })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A value that must never be printed whole (URLs with passwords, keys).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl DatabaseSettings {
    /// The connection options; validated when the settings were loaded.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(self.url.expose())
            .expect("database url was validated when the settings were loaded")
    }

    /// `host:port/database`, safe to print.
    pub fn address(&self) -> String {
        let options = self.connect_options();
        format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("postgres")
        )
    }
}

impl RedisSettings {
    /// `host:port` (a cluster's nodes separated by commas), safe to print.
    pub fn address(&self) -> String {
        let addresses: Vec<String> = self
            .nodes()
            .into_iter()
            .map(|url| {
                redis::Client::open(url)
                    .map(|client| match &client.get_connection_info().addr() {
                        redis::ConnectionAddr::Tcp(host, port)
                        | redis::ConnectionAddr::TcpTls { host, port, .. } => {
                            format!("{host}:{port}")
                        }
                        redis::ConnectionAddr::Unix(path) => path.display().to_string(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_else(|_| "<invalid url>".to_owned())
            })
            .collect();
        addresses.join(",")
    }

    /// The URLs given: one server's, or the cluster nodes'.
    pub fn nodes(&self) -> Vec<&str> {
        self.url.expose().split(',').map(str::trim).collect()
    }
}

/// One rejected setting: where it came from and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub key: String,
    pub origin: String,
    pub reason: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.key, self.origin, self.reason)
    }
}

/// All the settings that were rejected, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsError(pub Vec<SettingError>);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings: ")?;
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Where a raw value came from, for error messages.
#[derive(Debug, Clone, serde::Deserialize)]
enum Origin {
    File(PathBuf),
    Env,
}

/// The layers read so far: raw values by key (`http_addr`), the later overriding the
/// earlier, and the errors found.
#[derive(Debug, Default)]
struct Layers {
    values: BTreeMap<String, Given>,
    errors: Vec<SettingError>,
}

/// The raw layer: every setting by its key, as given (text) and where. The key is
/// `BILET_<KEY>` in the environment and `<key>` (or a `[section]` holding the rest of the
/// name) in the file. This struct is the one list of keys: a name not in it is refused as
/// unknown, and [`Layers::build`] reads each field by name, so the compiler checks it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    env: Option<Given>,
    http_addr: Option<Given>,
    http_body_limit: Option<Given>,
    http_shutdown_grace: Option<Given>,
    http_metrics_addr: Option<Given>,
    database_url: Option<Given>,
    database_max_connections: Option<Given>,
    database_connect_timeout: Option<Given>,
    redis_url: Option<Given>,
    redis_cluster: Option<Given>,
    redis_prefix: Option<Given>,
    redis_connect_timeout: Option<Given>,
    log_format: Option<Given>,
    log_filter: Option<Given>,
    keys_data: Option<Given>,
    keys_index: Option<Given>,
    keys_token: Option<Given>,
    keys_dev_file: Option<Given>,
    auth_access_token_ttl: Option<Given>,
    auth_refresh_token_ttl: Option<Given>,
    auth_limit_per_account: Option<Given>,
    auth_limit_per_address: Option<Given>,
    auth_link_code_guesses: Option<Given>,
    auth_login_free_failures: Option<Given>,
    auth_login_max_delay: Option<Given>,
    auth_trust_forwarded_for: Option<Given>,
    privacy_erasure_delay: Option<Given>,
    privacy_snils_checks: Option<Given>,
    push_config: Option<Given>,
    public_url: Option<Given>,
    hub_templates_dir: Option<Given>,
    hub_escalation_delay: Option<Given>,
    hub_retry_base: Option<Given>,
    hub_max_attempts: Option<Given>,
    hub_lease: Option<Given>,
    hub_requeue_after: Option<Given>,
    hub_claim_idle: Option<Given>,
    hub_record_gather: Option<Given>,
    hub_concurrency: Option<Given>,
    hub_batch: Option<Given>,
    hub_fanout_page: Option<Given>,
    diagnostics_offline_grace: Option<Given>,
    diagnostics_abandon_after: Option<Given>,
}

/// One raw value and where it came from.
#[derive(Debug, Clone, serde::Deserialize)]
struct Given {
    value: String,
    origin: Origin,
}

/// Reads one field of [`Raw`]: `setting!(self, raw.http_addr, default, parse)`.
macro_rules! setting {
    ($layers:ident, $raw:ident . $key:ident, $default:expr, $parse:expr $(,)?) => {
        $layers.get(stringify!($key), $raw.$key.take(), $default, $parse)
    };
}

/// The field names serde's derive gives a struct (its `FIELDS`), read by asking it to
/// deserialize from a source that only records them.
fn field_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Names<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Names<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only field names are read"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only field names are read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Names(&mut fields));
    fields
}

/// Environment variables that are read but are not settings keys.
const ENV_NOT_KEYS: &[&str] = &["BILET_CONFIG"];

impl Settings {
    /// Loads from the process environment and the file it names (or `bilet.toml`).
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(key, _)| key.starts_with("BILET_"))
            .collect();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("BILET_CONFIG").map(PathBuf::from));
        Self::from_sources(file.as_deref(), &env)
    }

    /// Loads from an explicit environment map, so tests need not touch the process's.
    pub fn from_sources(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let mut layers = Layers::default();
        match file {
            Some(path) => layers.read_file(path, true),
            None => layers.read_file(Path::new(DEFAULT_FILE), false),
        }
        layers.read_env(env);
        layers.build()
    }

    /// The defaults alone: what a fresh machine runs with.
    pub fn defaults() -> Self {
        Self::from_sources(None, &BTreeMap::new()).expect("the defaults are valid")
    }
}

impl Layers {
    fn read_file(&mut self, path: &Path, required: bool) {
        let origin = format!("file {}", path.display());
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if !required && err.kind() == std::io::ErrorKind::NotFound => return,
            Err(err) => {
                self.reject("config", origin, format!("cannot read: {err}"));
                return;
            }
        };
        let table: toml::Table = match text.parse() {
            Ok(table) => table,
            Err(err) => {
                let reason = format!("not valid TOML: {}", err.message());
                self.reject("config", origin, reason);
                return;
            }
        };
        self.flatten(path, "", &table);
    }

    fn flatten(&mut self, path: &Path, prefix: &str, table: &toml::Table) {
        for (name, value) in table {
            let key = if prefix.is_empty() {
                name.to_lowercase()
            } else {
                format!("{prefix}_{}", name.to_lowercase())
            };
            let scalar = match value {
                toml::Value::Table(inner) => {
                    self.flatten(path, &key, inner);
                    continue;
                }
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    let origin = format!("file {}", path.display());
                    self.reject(&key, origin, format!("unsupported value {other}"));
                    continue;
                }
            };
            if field_names::<Raw>().contains(&key.as_str()) {
                let origin = Origin::File(path.to_path_buf());
                self.values.insert(
                    key,
                    Given {
                        value: scalar,
                        origin,
                    },
                );
            } else {
                let origin = format!("file {}", path.display());
                self.reject(&key, origin, "unknown setting".to_owned());
            }
        }
    }

    fn read_env(&mut self, env: &BTreeMap<String, String>) {
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("BILET_") else {
                continue;
            };
            let key = rest.to_lowercase();
            if field_names::<Raw>().contains(&key.as_str()) {
                let given = Given {
                    value: value.clone(),
                    origin: Origin::Env,
                };
                self.values.insert(key, given);
            } else if !ENV_NOT_KEYS.contains(&name.as_str()) {
                self.reject(name, "environment".to_owned(), "unknown setting".to_owned());
            }
        }
    }

    fn reject(&mut self, key: &str, origin: String, reason: String) {
        self.errors.push(SettingError {
            key: key.to_owned(),
            origin,
            reason,
        });
    }

    /// The raw layer as a [`Raw`]; every key in `values` is one of its fields.
    fn raw(&mut self) -> Raw {
        let values = std::mem::take(&mut self.values);
        let map: serde_json::Map<String, serde_json::Value> = values
            .into_iter()
            .map(|(key, given)| {
                let origin = match given.origin {
                    Origin::Env => serde_json::json!("Env"),
                    Origin::File(path) => serde_json::json!({ "File": path }),
                };
                (
                    key,
                    serde_json::json!({ "value": given.value, "origin": origin }),
                )
            })
            .collect();
        // Only known keys were kept, each a string with its origin, so this cannot fail;
        // were it to, the defaults stand and the reason is reported.
        serde_json::from_value(serde_json::Value::Object(map)).unwrap_or_else(|err| {
            self.errors.push(SettingError {
                key: "settings".to_owned(),
                origin: "all layers".to_owned(),
                reason: err.to_string(),
            });
            Raw::default()
        })
    }

    /// Parses `given` (the value of `key`) if there is one, else returns `default`; a bad
    /// value is recorded.
    fn get<T>(
        &mut self,
        key: &str,
        given: Option<Given>,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        let Some(Given { value, origin }) = given else {
            return default;
        };
        match parse(value.trim()) {
            Ok(value) => value,
            Err(reason) => {
                let (name, origin) = match origin {
                    Origin::Env => (
                        format!("BILET_{}", key.to_uppercase()),
                        "environment".into(),
                    ),
                    Origin::File(path) => (key.to_owned(), format!("file {}", path.display())),
                };
                self.errors.push(SettingError {
                    key: name,
                    origin,
                    reason,
                });
                default
            }
        }
    }

    fn build(mut self) -> Result<Settings, SettingsError> {
        let mut raw = self.raw();
        let env = setting!(self, raw.env, Environment::Development, |s| match s {
            "development" => Ok(Environment::Development),
            "production" => Ok(Environment::Production),
            _ => Err(format!("`{s}` is not one of development, production")),
        });
        let http = HttpSettings {
            addr: setting!(self, raw.http_addr, ([127, 0, 0, 1], 8080).into(), |s| {
                s.parse()
                    .map_err(|_| format!("`{s}` is not a socket address like 127.0.0.1:8080"))
            }),
            body_limit: setting!(self, raw.http_body_limit, 1024 * 1024, parse_bytes),
            shutdown_grace: setting!(
                self,
                raw.http_shutdown_grace,
                Duration::from_secs(30),
                parse_duration,
            ),
            metrics_addr: setting!(self, raw.http_metrics_addr, None, |s| {
                s.parse()
                    .map(Some)
                    .map_err(|_| format!("`{s}` is not a socket address like 127.0.0.1:9464"))
            }),
        };
        let http = HttpSettings {
            metrics_addr: match (http.metrics_addr, env) {
                (None, Environment::Production) => Some(DEFAULT_METRICS_ADDR.into()),
                (given, _) => given,
            },
            ..http
        };
        if let Some(metrics) = http.metrics_addr
            && metrics.port() != 0
            && metrics == http.addr
        {
            self.errors.push(SettingError {
                key: "BILET_HTTP_METRICS_ADDR".to_owned(),
                origin: "BILET_HTTP_ADDR".to_owned(),
                reason:
                    "must differ from the public address, which never serves /metrics in production"
                        .to_owned(),
            });
        }
        let database = DatabaseSettings {
            url: setting!(
                self,
                raw.database_url,
                Secret::new("postgres://postgres@127.0.0.1:5432/bilet"),
                |s| {
                    let scheme_ok = s.starts_with("postgres://") || s.starts_with("postgresql://");
                    PgConnectOptions::from_str(s)
                        .ok()
                        .filter(|_| scheme_ok)
                        .map(|_| Secret::new(s))
                        .ok_or(())
                        .map_err(|_| {
                            "not a PostgreSQL URL like postgres://user@host:5432/db".into()
                        })
                },
            ),
            max_connections: setting!(self, raw.database_max_connections, 20, |s| match s
                .parse::<u32>()
            {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(format!("`{s}` is not a number from 1 to 1000")),
            }),
            connect_timeout: setting!(
                self,
                raw.database_connect_timeout,
                Duration::from_secs(5),
                parse_duration,
            ),
        };
        let redis = RedisSettings {
            url: setting!(
                self,
                raw.redis_url,
                Secret::new("redis://127.0.0.1:6379"),
                |s| {
                    s.split(',')
                        .all(|url| redis::Client::open(url.trim()).is_ok())
                        .then(|| Secret::new(s))
                        .ok_or_else(|| {
                            "not a Redis URL like redis://127.0.0.1:6379 (for a cluster, \
                             its nodes' URLs separated by commas)"
                                .into()
                        })
                }
            ),
            cluster: setting!(self, raw.redis_cluster, false, parse_bool),
            prefix: setting!(self, raw.redis_prefix, "bilet".to_owned(), |s| {
                let valid = !s.is_empty()
                    && s.len() <= 64
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if valid {
                    Ok(s.to_owned())
                } else {
                    Err("use 1 to 64 letters, digits, `_`, `-` or `.`".into())
                }
            }),
            connect_timeout: setting!(
                self,
                raw.redis_connect_timeout,
                Duration::from_secs(5),
                parse_duration,
            ),
        };
        if !redis.cluster && redis.nodes().len() > 1 {
            self.errors.push(SettingError {
                key: "BILET_REDIS_URL".to_owned(),
                origin: "BILET_REDIS_CLUSTER=false".to_owned(),
                reason: "several URLs name a cluster's nodes; set BILET_REDIS_CLUSTER=true"
                    .to_owned(),
            });
        }
        let log = LogSettings {
            format: setting!(self, raw.log_format, LogFormat::Pretty, |s| match s {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("`{s}` is not one of pretty, json")),
            }),
            filter: setting!(self, raw.log_filter, DEFAULT_LOG_FILTER.to_owned(), |s| {
                tracing_subscriber::EnvFilter::try_new(s)
                    .map(|_| s.to_owned())
                    .map_err(|err| format!("not a log filter: {err}"))
            }),
        };
        let keys = KeySettings {
            data_keys: setting!(self, raw.keys_data, None, |s| KeyList::parse(s).map(Some)),
            index_key: setting!(self, raw.keys_index, None, |s| match KeyList::parse(s) {
                Ok(list) if list.0.len() == 1 => Ok(Some(list)),
                Ok(_) => {
                    Err("give exactly one index key: changing it would orphan the index".into())
                }
                Err(err) => Err(err),
            }),
            token_keys: setting!(self, raw.keys_token, None, |s| KeyList::parse(s).map(Some)),
            dev_keys_file: setting!(
                self,
                raw.keys_dev_file,
                PathBuf::from(".local/dev-keys.toml"),
                |s| Ok(PathBuf::from(s)),
            ),
        };
        if env == Environment::Production {
            for (key, missing) in [
                ("BILET_KEYS_DATA", keys.data_keys.is_none()),
                ("BILET_KEYS_INDEX", keys.index_key.is_none()),
                ("BILET_KEYS_TOKEN", keys.token_keys.is_none()),
            ] {
                if missing {
                    self.errors.push(SettingError {
                        key: key.to_owned(),
                        origin: "BILET_ENV=production".to_owned(),
                        reason: "required in production; development keys are never used there"
                            .to_owned(),
                    });
                }
            }
        }
        let auth = AuthSettings {
            access_token_ttl: setting!(
                self,
                raw.auth_access_token_ttl,
                Duration::from_secs(15 * 60),
                |s| {
                    parse_duration(s).and_then(|d| {
                        if d.is_zero() || d > Duration::from_secs(15 * 60) {
                            Err("must be more than 0 and at most 15 minutes".into())
                        } else {
                            Ok(d)
                        }
                    })
                },
            ),
            refresh_token_ttl: setting!(
                self,
                raw.auth_refresh_token_ttl,
                Duration::from_secs(60 * 24 * 3600),
                parse_duration,
            ),
            limit_per_account: setting!(
                self,
                raw.auth_limit_per_account,
                RateLimit {
                    count: 10,
                    window: Duration::from_secs(15 * 60),
                },
                RateLimit::parse,
            ),
            limit_per_address: setting!(
                self,
                raw.auth_limit_per_address,
                RateLimit {
                    count: 100,
                    window: Duration::from_secs(15 * 60),
                },
                RateLimit::parse,
            ),
            link_code_guesses: setting!(
                self,
                raw.auth_link_code_guesses,
                RateLimit {
                    count: 10,
                    window: Duration::from_secs(15 * 60),
                },
                RateLimit::parse,
            ),
            login_free_failures: setting!(self, raw.auth_login_free_failures, 5u32, |s| {
                match s.parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => Ok(n),
                    _ => Err(format!("`{s}` is not a number from 1 to 100")),
                }
            }),
            login_max_delay: setting!(
                self,
                raw.auth_login_max_delay,
                Duration::from_secs(30),
                |s| {
                    parse_duration(s).and_then(|d| {
                        if d < Duration::from_secs(1) || d > Duration::from_secs(5 * 60) {
                            Err("must be from 1 second to 5 minutes".into())
                        } else {
                            Ok(d)
                        }
                    })
                }
            ),
            trust_forwarded_for: setting!(self, raw.auth_trust_forwarded_for, false, parse_bool),
        };
        let privacy = PrivacySettings {
            erasure_delay: setting!(
                self,
                raw.privacy_erasure_delay,
                Duration::from_secs(24 * 3600),
                |s| {
                    parse_duration(s).and_then(|d| {
                        if d > Duration::from_secs(30 * 24 * 3600) {
                            Err("must be at most 30 days".into())
                        } else {
                            Ok(d)
                        }
                    })
                },
            ),
            snils_checks: setting!(
                self,
                raw.privacy_snils_checks,
                RateLimit {
                    count: 5,
                    window: Duration::from_secs(3600),
                },
                RateLimit::parse,
            ),
        };
        let push_config = setting!(
            self,
            raw.push_config,
            PathBuf::from(DEFAULT_PUSH_CONFIG),
            |s| { Ok(PathBuf::from(s)) }
        );
        let count = |min: i64, max: i64| {
            move |s: &str| match s.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(format!("`{s}` is not a number from {min} to {max}")),
            }
        };
        let hub = HubSettings {
            public_url: setting!(
                self,
                raw.public_url,
                "http://127.0.0.1:8080".to_owned(),
                |s| {
                    let trimmed = s.trim_end_matches('/');
                    if (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
                        && trimmed.len() > 8
                    {
                        Ok(trimmed.to_owned())
                    } else {
                        Err("must be an http(s) URL like https://bilet.example.ru".into())
                    }
                }
            ),
            templates_dir: setting!(
                self,
                raw.hub_templates_dir,
                PathBuf::from("push-config/templates"),
                |s| Ok(PathBuf::from(s)),
            ),
            escalation_delay: setting!(
                self,
                raw.hub_escalation_delay,
                Duration::from_secs(15 * 60),
                parse_duration,
            ),
            retry_base: setting!(
                self,
                raw.hub_retry_base,
                Duration::from_secs(2),
                parse_duration
            ),
            max_attempts: setting!(self, raw.hub_max_attempts, 8, count(1, 50)) as i32,
            lease: setting!(self, raw.hub_lease, Duration::from_secs(60), parse_duration),
            requeue_after: setting!(
                self,
                raw.hub_requeue_after,
                Duration::from_secs(15),
                parse_duration
            ),
            claim_idle: setting!(
                self,
                raw.hub_claim_idle,
                Duration::from_secs(30),
                parse_duration
            ),
            concurrency: setting!(self, raw.hub_concurrency, 64, count(1, 4096)) as usize,
            batch: setting!(self, raw.hub_batch, 256, count(1, 10_000)) as usize,
            record_gather: setting!(self, raw.hub_record_gather, Duration::from_millis(5), |s| {
                parse_duration(s).and_then(|d| {
                    if d > Duration::from_secs(1) {
                        Err("must be at most 1s (outcomes wait this long to be written)".into())
                    } else {
                        Ok(d)
                    }
                })
            }),
            fanout_page: setting!(self, raw.hub_fanout_page, 5_000, count(1, 100_000)) as usize,
        };
        let diagnostics = DiagnosticsSettings {
            offline_grace: setting!(
                self,
                raw.diagnostics_offline_grace,
                Duration::from_secs(120),
                |s| {
                    parse_duration(s).and_then(|d| {
                        if d > Duration::from_secs(30 * 60) {
                            Err("must be at most 30 minutes".into())
                        } else {
                            Ok(d)
                        }
                    })
                }
            ),
            abandon_after: setting!(
                self,
                raw.diagnostics_abandon_after,
                Duration::from_secs(7 * 24 * 3600),
                |s| {
                    parse_duration(s).and_then(|d| {
                        if d < Duration::from_secs(3600) {
                            Err("must be at least 1h".into())
                        } else {
                            Ok(d)
                        }
                    })
                },
            ),
        };
        if self.errors.is_empty() {
            Ok(Settings {
                env,
                http,
                database,
                redis,
                log,
                keys,
                auth,
                privacy,
                push_config,
                hub,
                diagnostics,
            })
        } else {
            Err(SettingsError(self.errors))
        }
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not true or false")),
    }
}

/// `65536`, `64KiB`, `1MiB`.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let invalid = || format!("`{s}` is not a size like 65536, 64KiB or 1MiB");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: usize = number.parse().map_err(|_| invalid())?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "kB" | "KB" => 1024,
        "MiB" | "MB" => 1024 * 1024,
        _ => return Err(invalid()),
    };
    number
        .checked_mul(factor)
        .filter(|n| *n > 0)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_work_on_this_machine_with_nothing_set() {
        let settings = Settings::defaults();
        assert_eq!(settings.http.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.database.address(), "127.0.0.1:5432/bilet");
        assert_eq!(settings.redis.address(), "127.0.0.1:6379");
        assert_eq!(settings.log.format, LogFormat::Pretty);
        assert_eq!(settings.env, Environment::Development);
    }

    #[test]
    fn metrics_have_their_own_loopback_listener_in_production_by_default() {
        assert_eq!(Settings::defaults().http.metrics_addr, None);
        let keys = [
            ("BILET_ENV", "production"),
            (
                "BILET_KEYS_DATA",
                "d1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            (
                "BILET_KEYS_INDEX",
                "i1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            (
                "BILET_KEYS_TOKEN",
                "t1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ];
        let production = Settings::from_sources(None, &env(&keys)).unwrap();
        assert_eq!(
            production.http.metrics_addr.unwrap().to_string(),
            "127.0.0.1:9464"
        );
        let mut chosen = keys.to_vec();
        chosen.push(("BILET_HTTP_METRICS_ADDR", "10.0.0.5:9100"));
        let production = Settings::from_sources(None, &env(&chosen)).unwrap();
        assert_eq!(
            production.http.metrics_addr.unwrap().to_string(),
            "10.0.0.5:9100"
        );
        let same = Settings::from_sources(
            None,
            &env(&[
                ("BILET_HTTP_ADDR", "127.0.0.1:9100"),
                ("BILET_HTTP_METRICS_ADDR", "127.0.0.1:9100"),
            ]),
        );
        assert!(same.is_err());
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("bilet-settings-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bilet.toml");
        std::fs::write(
            &path,
            "[http]\naddr = \"0.0.0.0:9000\"\nbody_limit = \"2MiB\"\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let settings =
            Settings::from_sources(Some(&path), &env(&[("BILET_HTTP_ADDR", "127.0.0.1:9001")]))
                .unwrap();
        assert_eq!(settings.http.addr.to_string(), "127.0.0.1:9001");
        assert_eq!(settings.http.body_limit, 2 * 1024 * 1024);
        assert_eq!(settings.log.format, LogFormat::Json);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_redis_cluster_is_named_by_its_nodes_and_several_urls_need_the_cluster_flag() {
        let nodes = "redis://10.0.0.1:6379, redis://10.0.0.2:6379";
        let cluster = Settings::from_sources(
            None,
            &env(&[("BILET_REDIS_URL", nodes), ("BILET_REDIS_CLUSTER", "true")]),
        )
        .unwrap();
        assert!(cluster.redis.cluster);
        assert_eq!(
            cluster.redis.nodes(),
            ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]
        );
        assert_eq!(cluster.redis.address(), "10.0.0.1:6379,10.0.0.2:6379");
        let err = Settings::from_sources(None, &env(&[("BILET_REDIS_URL", nodes)])).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].key, "BILET_REDIS_URL");
        assert!(
            err.0[0].reason.contains("BILET_REDIS_CLUSTER=true"),
            "{err}"
        );
        let err = Settings::from_sources(
            None,
            &env(&[
                ("BILET_REDIS_URL", "redis://10.0.0.1:6379,not a url"),
                ("BILET_REDIS_CLUSTER", "true"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err.0[0].key, "BILET_REDIS_URL", "{err}");
    }

    #[test]
    fn the_raw_layer_is_the_one_list_of_keys_and_a_misspelt_one_is_refused() {
        let keys = field_names::<Raw>();
        assert_eq!(keys.len(), 43, "{keys:?}");
        assert!(keys.contains(&"http_addr") && keys.contains(&"diagnostics_abandon_after"));
        let err =
            Settings::from_sources(None, &env(&[("BILET_HTTP_ADRR", "127.0.0.1:1")])).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].key, "BILET_HTTP_ADRR");
        assert_eq!(err.0[0].reason, "unknown setting");
        // A key read through the raw layer reaches its setting.
        let given = Settings::from_sources(None, &env(&[("BILET_HUB_BATCH", "17")])).unwrap();
        assert_eq!(given.hub.batch, 17);
    }

    #[test]
    fn every_invalid_setting_is_reported_at_once() {
        let err = Settings::from_sources(
            None,
            &env(&[
                ("BILET_HTTP_ADDR", "nowhere"),
                ("BILET_LOG_FORMAT", "xml"),
                ("BILET_DATABASE_URL", "mysql://x"),
                ("BILET_HTTP_SHUTDOWN_GRACE", "soon"),
                ("BILET_NO_SUCH_THING", "1"),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
        for key in [
            "BILET_HTTP_ADDR",
            "BILET_LOG_FORMAT",
            "BILET_DATABASE_URL",
            "BILET_HTTP_SHUTDOWN_GRACE",
            "BILET_NO_SUCH_THING",
        ] {
            assert!(keys.contains(&key), "{key} missing from {err}");
        }
    }

    #[test]
    fn a_database_password_is_never_printed() {
        let settings = Settings::from_sources(
            None,
            &env(&[("BILET_DATABASE_URL", "postgres://app:hunter2@db:5432/bilet")]),
        )
        .unwrap();
        let printed = format!("{settings:?} {}", settings.database.address());
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn production_refuses_to_start_without_keys() {
        let err = Settings::from_sources(None, &env(&[("BILET_ENV", "production")])).unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["BILET_KEYS_DATA", "BILET_KEYS_INDEX", "BILET_KEYS_TOKEN"]
        );
    }

    #[test]
    fn key_lists_parse_and_the_last_is_current() {
        let one = KeyList::generate("k1");
        let two = KeyList::generate("k2");
        let both = KeyList::parse(&format!("{},{}", one.to_setting(), two.to_setting())).unwrap();
        assert_eq!(both.current().id, "k2");
        assert!(both.find("k1").is_some());
        assert!(KeyList::parse("k1:c2hvcnQ=").is_err());
        assert!(KeyList::parse("").is_err());
        assert!(!format!("{both:?}").contains(&one.to_setting()[3..]));
    }

    #[test]
    fn rate_limits_parse() {
        assert_eq!(
            RateLimit::parse("10/15m"),
            Ok(RateLimit {
                count: 10,
                window: Duration::from_secs(900)
            })
        );
        assert!(RateLimit::parse("0/1m").is_err());
        assert!(RateLimit::parse("ten").is_err());
    }

    #[test]
    fn access_tokens_live_at_most_fifteen_minutes() {
        assert!(
            Settings::from_sources(None, &env(&[("BILET_AUTH_ACCESS_TOKEN_TTL", "16m")])).is_err()
        );
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert!(parse_bytes("0").is_err());
    }
}

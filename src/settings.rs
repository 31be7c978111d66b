//! Typed settings: built-in defaults, overridden by an optional TOML file, overridden by
//! `BILET_*` environment variables; every invalid value is reported at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// The file read when neither `--config` nor `BILET_CONFIG` names one and it exists.
pub const DEFAULT_FILE: &str = "bilet.toml";

/// Everything the service can be told, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub env: Environment,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    /// The delivery-channel settings file (`push-config/channels.toml`).
    pub push_config: PathBuf,
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
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: Secret,
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
    /// `host:port`, safe to print.
    pub fn address(&self) -> String {
        redis::Client::open(self.url.expose())
            .map(|client| match &client.get_connection_info().addr() {
                redis::ConnectionAddr::Tcp(host, port)
                | redis::ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port}"),
                redis::ConnectionAddr::Unix(path) => path.display().to_string(),
                other => format!("{other:?}"),
            })
            .unwrap_or_else(|_| "<invalid url>".to_owned())
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
#[derive(Debug, Clone)]
enum Origin {
    File(PathBuf),
    Env,
}

/// Raw values by key (`http_addr`), before parsing, with their origin.
#[derive(Debug, Default)]
struct Layers {
    values: BTreeMap<String, (String, Origin)>,
    errors: Vec<SettingError>,
}

/// The settings keys; each is `BILET_<KEY>` in the environment and `<key>` (or a
/// `[section]` holding the rest of the name) in the file.
const KEYS: &[&str] = &[
    "env",
    "http_addr",
    "http_body_limit",
    "http_shutdown_grace",
    "database_url",
    "database_max_connections",
    "database_connect_timeout",
    "redis_url",
    "redis_prefix",
    "redis_connect_timeout",
    "log_format",
    "log_filter",
    "push_config",
];

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
            if KEYS.contains(&key.as_str()) {
                self.values
                    .insert(key, (scalar, Origin::File(path.to_path_buf())));
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
            if KEYS.contains(&key.as_str()) {
                self.values.insert(key, (value.clone(), Origin::Env));
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

    /// Parses `key` if it was given, else returns `default`; a bad value is recorded.
    fn get<T>(&mut self, key: &str, default: T, parse: impl Fn(&str) -> Result<T, String>) -> T {
        let Some((raw, origin)) = self.values.get(key).cloned() else {
            return default;
        };
        match parse(raw.trim()) {
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
        let env = self.get("env", Environment::Development, |s| match s {
            "development" => Ok(Environment::Development),
            "production" => Ok(Environment::Production),
            _ => Err(format!("`{s}` is not one of development, production")),
        });
        let http = HttpSettings {
            addr: self.get("http_addr", ([127, 0, 0, 1], 8080).into(), |s| {
                s.parse()
                    .map_err(|_| format!("`{s}` is not a socket address like 127.0.0.1:8080"))
            }),
            body_limit: self.get("http_body_limit", 1024 * 1024, parse_bytes),
            shutdown_grace: self.get(
                "http_shutdown_grace",
                Duration::from_secs(30),
                parse_duration,
            ),
        };
        let database = DatabaseSettings {
            url: self.get(
                "database_url",
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
            max_connections: self.get("database_max_connections", 20, |s| match s.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(format!("`{s}` is not a number from 1 to 1000")),
            }),
            connect_timeout: self.get(
                "database_connect_timeout",
                Duration::from_secs(5),
                parse_duration,
            ),
        };
        let redis = RedisSettings {
            url: self.get("redis_url", Secret::new("redis://127.0.0.1:6379"), |s| {
                redis::Client::open(s)
                    .map(|_| Secret::new(s))
                    .map_err(|_| "not a Redis URL like redis://127.0.0.1:6379".into())
            }),
            prefix: self.get("redis_prefix", "bilet".to_owned(), |s| {
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
            connect_timeout: self.get(
                "redis_connect_timeout",
                Duration::from_secs(5),
                parse_duration,
            ),
        };
        let log = LogSettings {
            format: self.get("log_format", LogFormat::Pretty, |s| match s {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("`{s}` is not one of pretty, json")),
            }),
            filter: self.get("log_filter", "info".to_owned(), |s| {
                tracing_subscriber::EnvFilter::try_new(s)
                    .map(|_| s.to_owned())
                    .map_err(|err| format!("not a log filter: {err}"))
            }),
        };
        let push_config = self.get(
            "push_config",
            PathBuf::from(crate::notify::providers::config::DEFAULT_PATH),
            |s| Ok(PathBuf::from(s)),
        );
        if self.errors.is_empty() {
            Ok(Settings {
                env,
                http,
                database,
                redis,
                log,
                push_config,
            })
        } else {
            Err(SettingsError(self.errors))
        }
    }
}

/// `30s`, `500ms`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("`{s}` is not a duration like 500ms, 30s, 5m or 1h");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let duration = match unit.trim() {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" | "min" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        _ => return Err(invalid()),
    };
    Ok(duration)
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
    fn durations_and_sizes_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("7 weeks").is_err());
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert!(parse_bytes("0").is_err());
    }
}

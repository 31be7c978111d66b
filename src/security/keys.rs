//! The key material of one process: from settings, or in development generated once into
//! a local file (with a warning), never in production.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::settings::{Environment, KeyList, KeySettings};

/// Every key the process needs.
#[derive(Debug, Clone)]
pub struct Keys {
    pub data: KeyList,
    pub index: KeyList,
    pub token: KeyList,
}

/// The development key file.
#[derive(Serialize, Deserialize)]
struct DevKeyFile {
    data: String,
    index: String,
    token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "keys missing in production ({0}); set BILET_KEYS_DATA, BILET_KEYS_INDEX and BILET_KEYS_TOKEN"
    )]
    MissingInProduction(&'static str),
    #[error("cannot use the development key file {path}: {reason}")]
    DevFile { path: String, reason: String },
}

impl Keys {
    /// The configured keys; any that are missing come from the development key file,
    /// which is created with fresh keys when absent.
    pub fn load(settings: &KeySettings, env: Environment) -> Result<Self, KeyError> {
        if let (Some(data), Some(index), Some(token)) = (
            &settings.data_keys,
            &settings.index_key,
            &settings.token_keys,
        ) {
            return Ok(Self {
                data: data.clone(),
                index: index.clone(),
                token: token.clone(),
            });
        }
        if env == Environment::Production {
            let missing = if settings.data_keys.is_none() {
                "data"
            } else if settings.index_key.is_none() {
                "index"
            } else {
                "token"
            };
            return Err(KeyError::MissingInProduction(missing));
        }
        let dev = read_or_create_dev_file(&settings.dev_keys_file)?;
        tracing::warn!(
            file = %settings.dev_keys_file.display(),
            "using development keys for what is not configured; set BILET_KEYS_* in production"
        );
        Ok(Self {
            data: settings.data_keys.clone().unwrap_or(dev.data),
            index: settings.index_key.clone().unwrap_or(dev.index),
            token: settings.token_keys.clone().unwrap_or(dev.token),
        })
    }

    /// Fresh random keys, for tests.
    pub fn generate() -> Self {
        Self {
            data: KeyList::generate("d1"),
            index: KeyList::generate("i1"),
            token: KeyList::generate("t1"),
        }
    }
}

fn read_or_create_dev_file(path: &Path) -> Result<Keys, KeyError> {
    let failed = |reason: String| KeyError::DevFile {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let file: DevKeyFile =
                toml::from_str(&text).map_err(|e| failed(e.message().to_owned()))?;
            Ok(Keys {
                data: KeyList::parse(&file.data).map_err(failed)?,
                index: KeyList::parse(&file.index).map_err(failed)?,
                token: KeyList::parse(&file.token).map_err(failed)?,
            })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let keys = Keys {
                data: KeyList::generate("dev-data-1"),
                index: KeyList::generate("dev-index-1"),
                token: KeyList::generate("dev-token-1"),
            };
            let file = DevKeyFile {
                data: keys.data.to_setting(),
                index: keys.index.to_setting(),
                token: keys.token.to_setting(),
            };
            let text = format!(
                "# Development keys, generated on first start. Never use them in production.\n{}",
                toml::to_string(&file).map_err(|e| failed(e.to_string()))?
            );
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
            }
            write_private(path, &text).map_err(|e| failed(e.to_string()))?;
            tracing::warn!(file = %path.display(), "generated development keys");
            Ok(keys)
        }
        Err(err) => Err(failed(err.to_string())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_keys_are_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("bilet-keys-{}", uuid::Uuid::new_v4()));
        let settings = KeySettings {
            data_keys: None,
            index_key: None,
            token_keys: None,
            dev_keys_file: dir.join("dev-keys.toml"),
        };
        let first = Keys::load(&settings, Environment::Development).unwrap();
        let second = Keys::load(&settings, Environment::Development).unwrap();
        assert!(first.data.current().key == second.data.current().key);
        assert!(first.data.current().key != first.token.current().key);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn production_never_falls_back_to_development_keys() {
        let settings = KeySettings {
            data_keys: None,
            index_key: None,
            token_keys: None,
            dev_keys_file: "/nonexistent/dev-keys.toml".into(),
        };
        assert!(Keys::load(&settings, Environment::Production).is_err());
    }
}

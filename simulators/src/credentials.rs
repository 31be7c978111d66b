//! The credentials the simulators accept, made up on this machine: an APNs `.p8` key, an
//! FCM service account (RSA key), a RuStore service token and an SMS `api_id`. In-process
//! simulators share one set per process; `bilet simulate` keeps its set in files so that a
//! bilet in another process can be configured with them like with real ones.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rsa::pkcs8::{EncodePrivateKey, LineEnding};

use serde::{Deserialize, Serialize};

use super::tokens::{self, TokenError};

/// The APNs key id the simulator knows.
pub const APNS_KEY_ID: &str = "SIMKEY0001";
/// The APNs team id the simulator knows.
pub const APNS_TEAM_ID: &str = "SIMTEAM001";
/// The Firebase and RuStore project the simulators serve.
pub const PROJECT_ID: &str = "bilet-sim";
/// The service account's e-mail (an identifier, not a person's address).
pub const FCM_CLIENT_EMAIL: &str = "bilet-sim@bilet-sim.iam.gserviceaccount.com";
/// The service account's key id.
pub const FCM_KEY_ID: &str = "sim-key-1";

/// The APNs key file under the credentials directory.
pub const APNS_KEY_FILE: &str = "apns-key.p8";
/// The service-account JSON file under the credentials directory.
pub const FCM_ACCOUNT_FILE: &str = "fcm-service-account.json";
/// The RuStore service-token file under the credentials directory.
pub const RUSTORE_TOKEN_FILE: &str = "rustore-token";
/// The SMS `api_id` file under the credentials directory.
pub const SMS_API_ID_FILE: &str = "sms-api-id";

/// A Google service-account JSON file: the fields a client reads, as Google writes them.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub token_uri: String,
}

/// Credentials that could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot generate a simulator key: {0}")]
    Generate(String),
    #[error("simulator credentials in {path}: {reason}")]
    Files { path: PathBuf, reason: String },
    #[error(transparent)]
    Key(#[from] TokenError),
}

/// One set of simulator credentials.
#[derive(Clone)]
pub struct SimCredentials {
    pub apns_key_pem: String,
    pub fcm_key_pem: String,
    pub rustore_token: String,
    pub sms_api_id: String,
}

impl SimCredentials {
    /// A fresh set (an RSA key takes a moment to make).
    pub fn generate() -> Result<Self, CredentialsError> {
        let apns_key_pem = tokens::generate_es256_pem()?;
        let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|err| CredentialsError::Generate(err.to_string()))?;
        let fcm_key_pem = rsa
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|err| CredentialsError::Generate(err.to_string()))?
            .to_string();
        let random = || uuid::Uuid::new_v4().simple().to_string();
        Ok(Self {
            apns_key_pem,
            fcm_key_pem,
            rustore_token: format!("sim-rustore-{}", random()),
            sms_api_id: format!("SIM-{}", random().to_uppercase()),
        })
    }

    /// The set every in-process simulator of this process uses, made on first use.
    pub fn shared() -> Result<&'static Self, CredentialsError> {
        static SHARED: OnceLock<SimCredentials> = OnceLock::new();
        if let Some(credentials) = SHARED.get() {
            return Ok(credentials);
        }
        let generated = Self::generate()?;
        Ok(SHARED.get_or_init(|| generated))
    }

    /// Reads the set kept in `dir`, or makes one and writes it there.
    pub fn load_or_create(dir: &Path, fcm_token_uri: &str) -> Result<Self, CredentialsError> {
        let files = |reason: String| CredentialsError::Files {
            path: dir.to_path_buf(),
            reason,
        };
        let read = |name: &str| std::fs::read_to_string(dir.join(name));
        let existing = (|| -> std::io::Result<Self> {
            let account: ServiceAccount = serde_json::from_str(&read(FCM_ACCOUNT_FILE)?)
                .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?;
            Ok(Self {
                apns_key_pem: read(APNS_KEY_FILE)?,
                fcm_key_pem: account.private_key,
                rustore_token: read(RUSTORE_TOKEN_FILE)?.trim().to_owned(),
                sms_api_id: read(SMS_API_ID_FILE)?.trim().to_owned(),
            })
        })();
        let credentials = match existing {
            Ok(credentials)
                if tokens::es256_public_key(&credentials.apns_key_pem).is_ok()
                    && tokens::rs256_public_key(&credentials.fcm_key_pem).is_ok() =>
            {
                credentials
            }
            _ => Self::generate()?,
        };
        std::fs::create_dir_all(dir).map_err(|err| files(err.to_string()))?;
        let account = serde_json::to_string_pretty(&credentials.service_account(fcm_token_uri))
            .map_err(|err| files(err.to_string()))?;
        for (name, content) in [
            (APNS_KEY_FILE, credentials.apns_key_pem.as_str()),
            (FCM_ACCOUNT_FILE, account.as_str()),
            (RUSTORE_TOKEN_FILE, credentials.rustore_token.as_str()),
            (SMS_API_ID_FILE, credentials.sms_api_id.as_str()),
        ] {
            std::fs::write(dir.join(name), content)
                .map_err(|err| files(format!("{name}: {err}")))?;
        }
        Ok(credentials)
    }

    /// The service-account JSON a client uses with the FCM simulator at `token_uri`.
    pub fn service_account(&self, token_uri: &str) -> ServiceAccount {
        ServiceAccount {
            project_id: PROJECT_ID.to_owned(),
            private_key_id: FCM_KEY_ID.to_owned(),
            private_key: self.fcm_key_pem.clone(),
            client_email: FCM_CLIENT_EMAIL.to_owned(),
            token_uri: token_uri.to_owned(),
        }
    }
}

//! `bilet admin rotate-data-key`: re-encrypts every value not under the current data key,
//! in small batches, while the service keeps running. Each value is replaced only if it is
//! still the one read, so a concurrent write (already under the current key) always wins.

use crate::security::cipher::{Cipher, Context};
use crate::store::profiles::{ENCRYPTED_COLUMNS, replace_value, values_under_other_keys};
use crate::store::{Db, StoreError};

/// Values re-encrypted per query.
const BATCH: i64 = 500;

/// What a rotation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RotationReport {
    pub reencrypted: u64,
    /// Values changed by someone else between read and write; re-read on the next pass.
    pub raced: u64,
}

/// Re-encrypts until no value under another key remains.
pub async fn rotate(db: &Db, cipher: &Cipher) -> Result<RotationReport, RotationError> {
    let current = cipher.current_key_id().to_owned();
    let mut report = RotationReport::default();
    for &column in ENCRYPTED_COLUMNS {
        let field = column.3;
        loop {
            let batch = values_under_other_keys(db, column, &current, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for value in batch {
                let context = Context {
                    field,
                    owner: value.owner,
                };
                let plain = cipher.decrypt(&value.value, &context).map_err(|err| {
                    RotationError::Undecryptable {
                        table: column.0,
                        field,
                        owner: value.owner,
                        reason: err.to_string(),
                    }
                })?;
                let sealed = cipher.encrypt(&plain, &context);
                if replace_value(db, column, value.owner, &value.value, &sealed).await? {
                    report.reencrypted += 1;
                } else {
                    report.raced += 1;
                }
            }
        }
    }
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("a value in {table} ({field}) of {owner} cannot be decrypted: {reason}")]
    Undecryptable {
        table: &'static str,
        field: &'static str,
        owner: uuid::Uuid,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

//! `bilet admin …`: operator commands run against the same database as the service.

use base64::Engine as _;
use rand::RngCore as _;

use crate::domain::email::Email;
use crate::domain::ids::AccountId;
use crate::domain::names::ShortText;
use crate::domain::password::NewPassword;
use crate::domain::roles::Role;
use crate::privacy::rotation::{self, RotationReport};
use crate::security::password;
use crate::state::AppState;
use crate::store::{self, accounts::NewAccount, audit::AuditAction};

/// A staff role an administrator can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StaffRole {
    Admin,
    Organizer,
}

/// What `create-user` made.
#[derive(Debug)]
pub struct CreatedUser {
    pub account_id: AccountId,
    /// Set when the password was generated; shown once.
    pub generated_password: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    #[error("no such staff account")]
    NoSuchStaff,
    #[error("an admin cannot disable their own account")]
    OwnAccount,
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Creates a verified staff account; an organizer's organization is created if new.
pub async fn create_user(
    state: &AppState,
    role: StaffRole,
    email: &str,
    organization: Option<&str>,
    password: Option<String>,
) -> Result<CreatedUser, AdminError> {
    let invalid = |field, reason: String| AdminError::Invalid { field, reason };
    let email = Email::parse(email).map_err(|r| invalid("--email", r))?;
    let organization = match (role, organization) {
        (StaffRole::Organizer, Some(name)) => {
            Some(ShortText::parse(name, 200).map_err(|r| invalid("--organization", r))?)
        }
        (StaffRole::Organizer, None) => {
            return Err(invalid(
                "--organization",
                "an organizer belongs to an organization".into(),
            ));
        }
        (StaffRole::Admin, Some(_)) => {
            return Err(invalid(
                "--organization",
                "an admin belongs to no organization".into(),
            ));
        }
        (StaffRole::Admin, None) => None,
    };
    let (password, generated) = match password {
        Some(given) => (given, false),
        None => (generate_password(), true),
    };
    let checked = NewPassword::parse(&password).map_err(|r| invalid("password", r))?;
    let hash = password::hash(checked.expose().to_owned()).await?;
    let id = AccountId::new();
    let mut tx = state.db.begin().await.map_err(store::StoreError::from)?;
    let organization_id = match &organization {
        Some(name) => Some(store::accounts::upsert_organization(&mut *tx, name.as_str()).await?),
        None => None,
    };
    let inserted = store::accounts::insert(
        &mut *tx,
        &NewAccount {
            id,
            email: email.as_str(),
            password_hash: &hash,
            role: match role {
                StaffRole::Admin => Role::Admin,
                StaffRole::Organizer => Role::Organizer,
            },
            organization: organization_id,
            verified: true,
        },
    )
    .await;
    match inserted {
        Err(err) if err.is_conflict_on("accounts_email_key") => return Err(AdminError::EmailTaken),
        other => other?,
    }
    tx.commit().await.map_err(store::StoreError::from)?;
    Ok(CreatedUser {
        account_id: id,
        generated_password: generated.then_some(password),
    })
}

/// Disables a staff account or enables it again, on behalf of the admin `by`. Disabling
/// takes effect at once: in the same transaction every console session and device session
/// of the account ends (its API tokens stop working), and sign-in refuses it from then on.
pub async fn set_staff_enabled(
    state: &AppState,
    by: AccountId,
    target: AccountId,
    enabled: bool,
    request_id: Option<&str>,
) -> Result<(), AdminError> {
    if by == target && !enabled {
        return Err(AdminError::OwnAccount);
    }
    let mut tx = state.db.begin().await.map_err(store::StoreError::from)?;
    store::accounts::set_staff_disabled(&mut *tx, target, !enabled)
        .await?
        .ok_or(AdminError::NoSuchStaff)?;
    let action = if enabled {
        AuditAction::EnableStaff
    } else {
        store::console_sessions::end_all(&mut *tx, target).await?;
        store::sessions::revoke_all(&mut *tx, target, "account disabled").await?;
        AuditAction::DisableStaff
    };
    store::audit::record(
        &mut *tx,
        store::audit::Actor::Person {
            id: by,
            role: Role::Admin.as_str(),
        },
        target,
        action,
        request_id,
    )
    .await?;
    tx.commit().await.map_err(store::StoreError::from)?;
    Ok(())
}

/// Re-encrypts all personal data under the current data key (the last of BILET_KEYS_DATA).
pub async fn rotate_data_key(state: &AppState) -> Result<RotationReport, rotation::RotationError> {
    rotation::rotate(&state.db, state.vault.cipher()).await
}

/// A new key in the `id:base64` form the `BILET_KEYS_*` settings take.
pub fn generate_key(id: &str) -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

fn generate_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

//! Accounts, organizations and e-mail verification.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::{AccountId, OrganizationId};
use crate::domain::roles::Role;

/// An account as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: AccountId,
    pub email: String,
    pub password_hash: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub organization_id: Option<OrganizationId>,
    pub organization_name: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
    /// Set while an admin has the account disabled: it cannot sign in.
    pub disabled_at: Option<DateTime<Utc>>,
}

const SELECT: &str =
    "SELECT a.id, a.email::text AS email, a.password_hash, a.role, a.organization_id,
        o.name AS organization_name, a.email_verified_at, a.locale, a.created_at, a.erased_at,
        a.disabled_at
    FROM accounts a LEFT JOIN organizations o ON o.id = a.organization_id";

pub struct NewAccount<'a> {
    pub id: AccountId,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub organization: Option<OrganizationId>,
    pub verified: bool,
}

/// Inserts an account; an e-mail already taken is `Conflict("accounts_email_key")`.
pub async fn insert(exec: impl PgExecutor<'_>, account: &NewAccount<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO accounts (id, email, password_hash, role, organization_id, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END)",
    )
    .bind(account.id.0)
    .bind(account.email)
    .bind(account.password_hash)
    .bind(account.role.as_str())
    .bind(account.organization.map(|o| o.0))
    .bind(account.verified)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn find(exec: impl PgExecutor<'_>, id: AccountId) -> StoreResult<Option<AccountRow>> {
    Ok(
        sqlx::query_as::<_, AccountRow>(&format!("{SELECT} WHERE a.id = $1"))
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

pub async fn find_by_email(
    exec: impl PgExecutor<'_>,
    email: &str,
) -> StoreResult<Option<AccountRow>> {
    Ok(
        sqlx::query_as::<_, AccountRow>(&format!("{SELECT} WHERE a.email = $1"))
            .bind(email)
            .fetch_optional(exec)
            .await?,
    )
}

/// Replaces the password and role of an account whose e-mail is not yet verified; the
/// caller does this only once the pending registration's code has expired.
pub async fn set_unverified_password(
    exec: impl PgExecutor<'_>,
    id: AccountId,
    password_hash: &str,
    role: Role,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET password_hash = $2, role = $3
         WHERE id = $1 AND email_verified_at IS NULL AND role IN ('student', 'parent')",
    )
    .bind(id.0)
    .bind(password_hash)
    .bind(role.as_str())
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn mark_verified(exec: impl PgExecutor<'_>, id: AccountId) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET email_verified_at = now() WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(id.0)
    .execute(exec)
    .await?;
    Ok(())
}

/// A code mailed to an account and waiting to be entered: one table each, the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailedCode {
    /// The registration's e-mail verification (`email_verifications`).
    Verification,
    /// A password reset (`password_resets`).
    PasswordReset,
}

impl MailedCode {
    fn table(self) -> &'static str {
        match self {
            MailedCode::Verification => "email_verifications",
            MailedCode::PasswordReset => "password_resets",
        }
    }

    /// What else a replaced code resets besides its digest, expiry and guesses.
    fn also_on_replace(self) -> &'static str {
        match self {
            MailedCode::Verification => "",
            MailedCode::PasswordReset => ", created_at = now()",
        }
    }
}

/// Stores (or replaces) an account's pending code; a new code starts with a fresh count of
/// guesses.
pub async fn set_code(
    exec: impl PgExecutor<'_>,
    which: MailedCode,
    id: AccountId,
    code_digest: &[u8],
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO {} (account_id, code_digest, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE
             SET code_digest = $2, expires_at = $3, attempts = 0{}",
        which.table(),
        which.also_on_replace()
    ))
    .bind(id.0)
    .bind(code_digest)
    .bind(expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// The account's pending code, locked for the caller's transaction.
pub async fn code_for_update(
    exec: impl PgExecutor<'_>,
    which: MailedCode,
    id: AccountId,
) -> StoreResult<Option<VerificationRow>> {
    Ok(sqlx::query_as::<_, VerificationRow>(&format!(
        "SELECT code_digest, expires_at, attempts FROM {} WHERE account_id = $1 FOR UPDATE",
        which.table()
    ))
    .bind(id.0)
    .fetch_optional(exec)
    .await?)
}

/// Counts a wrong guess at the pending code.
pub async fn count_failed_code(
    exec: impl PgExecutor<'_>,
    which: MailedCode,
    id: AccountId,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE {} SET attempts = attempts + 1 WHERE account_id = $1",
        which.table()
    ))
    .bind(id.0)
    .execute(exec)
    .await?;
    Ok(())
}

/// Removes the pending code: a code works once.
pub async fn delete_code(
    exec: impl PgExecutor<'_>,
    which: MailedCode,
    id: AccountId,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "DELETE FROM {} WHERE account_id = $1",
        which.table()
    ))
    .bind(id.0)
    .execute(exec)
    .await?;
    Ok(())
}

/// When the account's pending code expires, if one is pending.
pub async fn code_pending_until(
    exec: impl PgExecutor<'_>,
    which: MailedCode,
    id: AccountId,
) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT expires_at FROM {} WHERE account_id = $1",
        which.table()
    ))
    .bind(id.0)
    .fetch_optional(exec)
    .await?)
}

/// A pending code, locked for the caller's transaction.
#[derive(Debug, sqlx::FromRow)]
pub struct VerificationRow {
    pub code_digest: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub attempts: i32,
}

/// The organization of that name, created if new.
pub async fn upsert_organization(
    exec: impl PgExecutor<'_>,
    name: &str,
) -> StoreResult<OrganizationId> {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO organizations (id, name) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .fetch_one(exec)
    .await?;
    Ok(OrganizationId(id))
}

/// The account's row, locked for the caller's transaction (registrations of one address
/// take turns).
pub async fn find_by_email_for_update(
    exec: impl PgExecutor<'_>,
    email: &str,
) -> StoreResult<Option<AccountRow>> {
    Ok(
        sqlx::query_as::<_, AccountRow>(&format!("{SELECT} WHERE a.email = $1 FOR UPDATE OF a"))
            .bind(email)
            .fetch_optional(exec)
            .await?,
    )
}

/// Sets a new password hash.
pub async fn set_password(
    exec: impl PgExecutor<'_>,
    id: AccountId,
    password_hash: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
        .bind(id.0)
        .bind(password_hash)
        .execute(exec)
        .await?;
    Ok(())
}

/// The names on the account's student or parent profile (surname, given name,
/// patronymic), for the password rules; empty without a profile.
pub async fn profile_names(exec: impl PgExecutor<'_>, id: AccountId) -> StoreResult<Vec<String>> {
    let names: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT surname, given_name, patronymic FROM student_profiles WHERE account_id = $1
         UNION ALL
         SELECT surname, given_name, patronymic FROM parent_profiles WHERE account_id = $1
         LIMIT 1",
    )
    .bind(id.0)
    .fetch_optional(exec)
    .await?;
    Ok(names
        .map(|(a, b, c)| [a, b, c].into_iter().flatten().collect())
        .unwrap_or_default())
}

/// A staff account (organizer or admin) as the admins' staff page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub id: AccountId,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub organization_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The newest console or device session it opened; `None` when it never signed in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Every staff account that is not erased, admins first, then by e-mail.
pub async fn staff(exec: impl PgExecutor<'_>) -> StoreResult<Vec<StaffRow>> {
    Ok(sqlx::query_as::<_, StaffRow>(
        "SELECT a.id, a.email::text AS email, a.role, o.name AS organization_name, a.created_at,
                GREATEST(
                    (SELECT max(c.created_at) FROM console_sessions c WHERE c.account_id = a.id),
                    (SELECT max(d.created_at) FROM device_sessions d WHERE d.account_id = a.id)
                ) AS last_sign_in_at,
                a.disabled_at
         FROM accounts a LEFT JOIN organizations o ON o.id = a.organization_id
         WHERE a.role IN ('organizer', 'admin') AND a.erased_at IS NULL
         ORDER BY a.role = 'admin' DESC, a.email",
    )
    .fetch_all(exec)
    .await?)
}

/// Disables or re-enables a staff account; `None` when there is no such staff account,
/// else its role.
pub async fn set_staff_disabled(
    exec: impl PgExecutor<'_>,
    id: AccountId,
    disabled: bool,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "UPDATE accounts SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END
         WHERE id = $1 AND role IN ('organizer', 'admin') AND erased_at IS NULL
         RETURNING role",
    )
    .bind(id.0)
    .bind(disabled)
    .fetch_optional(exec)
    .await?)
}

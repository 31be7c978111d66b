//! Student and parent profiles as stored: names in clear, personal data as encrypted
//! envelopes, and the SNILS blind-index registry.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::StoreResult;
use crate::domain::ids::AccountId;

/// A student profile row; `*_enc` are encrypted envelopes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StudentRow {
    pub account_id: AccountId,
    pub surname: Option<String>,
    pub given_name: Option<String>,
    pub patronymic: Option<String>,
    pub birth_date_enc: Option<String>,
    pub grade: i16,
    pub school: Option<String>,
    pub region: String,
    pub city: Option<String>,
    pub phone_enc: Option<String>,
    pub snils_enc: Option<String>,
    pub document_kind: Option<String>,
    pub document_enc: Option<String>,
    pub health_enc: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
}

/// A parent profile row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParentRow {
    pub account_id: AccountId,
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
    pub birth_date_enc: String,
    /// `None` after an administrator gave the SNILS to its rightful owner.
    pub snils_enc: Option<String>,
    pub phone_enc: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn upsert_student(exec: impl PgExecutor<'_>, row: &StudentRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO student_profiles (account_id, surname, given_name, patronymic, birth_date_enc,
             grade, school, region, city, phone_enc, snils_enc, document_kind, document_enc,
             health_enc, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now())
         ON CONFLICT (account_id) DO UPDATE SET
             surname = $2, given_name = $3, patronymic = $4, birth_date_enc = $5, grade = $6,
             school = $7, region = $8, city = $9, phone_enc = $10, snils_enc = $11,
             document_kind = $12, document_enc = $13, health_enc = $14, updated_at = now()",
    )
    .bind(row.account_id)
    .bind(&row.surname)
    .bind(&row.given_name)
    .bind(&row.patronymic)
    .bind(&row.birth_date_enc)
    .bind(row.grade)
    .bind(&row.school)
    .bind(&row.region)
    .bind(&row.city)
    .bind(&row.phone_enc)
    .bind(&row.snils_enc)
    .bind(&row.document_kind)
    .bind(&row.document_enc)
    .bind(&row.health_enc)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn student(exec: impl PgExecutor<'_>, id: AccountId) -> StoreResult<Option<StudentRow>> {
    Ok(
        sqlx::query_as::<_, StudentRow>("SELECT * FROM student_profiles WHERE account_id = $1")
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// The stored health envelope of a student, locked for the caller's transaction.
pub async fn student_for_update(
    exec: impl PgExecutor<'_>,
    id: AccountId,
) -> StoreResult<Option<StudentRow>> {
    Ok(sqlx::query_as::<_, StudentRow>(
        "SELECT * FROM student_profiles WHERE account_id = $1 FOR UPDATE",
    )
    .bind(id.0)
    .fetch_optional(exec)
    .await?)
}

pub async fn set_student_health(
    exec: impl PgExecutor<'_>,
    id: AccountId,
    health_enc: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE student_profiles SET health_enc = $2, updated_at = now() WHERE account_id = $1",
    )
    .bind(id.0)
    .bind(health_enc)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn upsert_parent(exec: impl PgExecutor<'_>, row: &ParentRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO parent_profiles (account_id, surname, given_name, patronymic, birth_date_enc,
             snils_enc, phone_enc, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())
         ON CONFLICT (account_id) DO UPDATE SET
             surname = $2, given_name = $3, patronymic = $4, birth_date_enc = $5,
             snils_enc = $6, phone_enc = $7, updated_at = now()",
    )
    .bind(row.account_id)
    .bind(&row.surname)
    .bind(&row.given_name)
    .bind(&row.patronymic)
    .bind(&row.birth_date_enc)
    .bind(&row.snils_enc)
    .bind(&row.phone_enc)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn parent(exec: impl PgExecutor<'_>, id: AccountId) -> StoreResult<Option<ParentRow>> {
    Ok(
        sqlx::query_as::<_, ParentRow>("SELECT * FROM parent_profiles WHERE account_id = $1")
            .bind(id.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// Registers `digest` as the SNILS of `account` (replacing the account's previous one);
/// `Conflict("snils_registry_pkey")` when another profile holds it.
pub async fn claim_snils(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
    account: AccountId,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO snils_registry (digest, account_id) VALUES ($1, $2)
         ON CONFLICT (account_id) DO UPDATE SET digest = EXCLUDED.digest",
    )
    .bind(digest)
    .bind(account.0)
    .execute(exec)
    .await?;
    Ok(())
}

/// The account holding a SNILS (by its digest), if any.
pub async fn snils_holder(
    exec: impl PgExecutor<'_>,
    digest: &[u8],
) -> StoreResult<Option<AccountId>> {
    let holder: Option<Uuid> =
        sqlx::query_scalar("SELECT account_id FROM snils_registry WHERE digest = $1")
            .bind(digest)
            .fetch_optional(exec)
            .await?;
    Ok(holder.map(AccountId))
}

/// The digest of the SNILS an account holds, if any.
pub async fn registered_snils(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT digest FROM snils_registry WHERE account_id = $1")
            .bind(account.0)
            .fetch_optional(exec)
            .await?,
    )
}

/// Removes an account's SNILS from its profile (student or parent) and from the registry,
/// so that the person must enter it again.
pub async fn remove_snils(conn: &mut sqlx::PgConnection, account: AccountId) -> StoreResult<()> {
    for statement in [
        "UPDATE student_profiles SET snils_enc = NULL, updated_at = now() WHERE account_id = $1",
        "UPDATE parent_profiles SET snils_enc = NULL, updated_at = now() WHERE account_id = $1",
        "DELETE FROM snils_registry WHERE account_id = $1",
    ] {
        sqlx::query(statement)
            .bind(account.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn release_snils(exec: impl PgExecutor<'_>, account: AccountId) -> StoreResult<()> {
    sqlx::query("DELETE FROM snils_registry WHERE account_id = $1")
        .bind(account.0)
        .execute(exec)
        .await?;
    Ok(())
}

/// One encrypted value somewhere in the database, for key rotation.
#[derive(Debug, sqlx::FromRow)]
pub struct EncryptedValue {
    pub owner: Uuid,
    pub value: String,
}

/// Every encrypted column: (table, owner column, value column, the field name bound into
/// the ciphertext).
pub const ENCRYPTED_COLUMNS: &[(&str, &str, &str, &str)] = &[
    (
        "student_profiles",
        "account_id",
        "birth_date_enc",
        "student.birth_date",
    ),
    (
        "student_profiles",
        "account_id",
        "phone_enc",
        "student.phone",
    ),
    (
        "student_profiles",
        "account_id",
        "snils_enc",
        "student.snils",
    ),
    (
        "student_profiles",
        "account_id",
        "document_enc",
        "student.document",
    ),
    (
        "student_profiles",
        "account_id",
        "health_enc",
        "student.health",
    ),
    (
        "parent_profiles",
        "account_id",
        "birth_date_enc",
        "parent.birth_date",
    ),
    ("parent_profiles", "account_id", "snils_enc", "parent.snils"),
    ("parent_profiles", "account_id", "phone_enc", "parent.phone"),
    (
        "consents",
        "id",
        "identity_proof_enc",
        "consent.identity_proof",
    ),
    // The staff's TOTP secrets (`console::second_factor`): not personal data, but a
    // secret kept under the same keys, so it moves with them.
    (
        "staff_second_factors",
        "account_id",
        "secret_enc",
        "staff_second_factors.secret",
    ),
];

/// Up to `limit` values of one column not encrypted under `current_key`.
pub async fn values_under_other_keys(
    exec: impl PgExecutor<'_>,
    column: (&str, &str, &str, &str),
    current_key: &str,
    limit: i64,
) -> StoreResult<Vec<EncryptedValue>> {
    let (table, owner, value, _) = column;
    // Identifiers come from the constant table above, never from input.
    let sql = format!(
        "SELECT {owner} AS owner, {value} AS value FROM {table}
         WHERE {value} IS NOT NULL AND split_part({value}, ':', 2) <> $1 LIMIT $2"
    );
    Ok(sqlx::query_as::<_, EncryptedValue>(&sql)
        .bind(current_key)
        .bind(limit)
        .fetch_all(exec)
        .await?)
}

/// Replaces one encrypted value if it is still the one read (a concurrent write wins).
pub async fn replace_value(
    exec: impl PgExecutor<'_>,
    column: (&str, &str, &str, &str),
    owner_id: Uuid,
    old: &str,
    new: &str,
) -> StoreResult<bool> {
    let (table, owner, value, _) = column;
    let sql = format!("UPDATE {table} SET {value} = $3 WHERE {owner} = $1 AND {value} = $2");
    let done = sqlx::query(&sql)
        .bind(owner_id)
        .bind(old)
        .bind(new)
        .execute(exec)
        .await?;
    Ok(done.rows_affected() == 1)
}

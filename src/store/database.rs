//! Connecting to PostgreSQL, creating the database if it does not exist, and applying the
//! migrations in `migrations/`.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::dependency::DependencyError;
use crate::settings::DatabaseSettings;

/// The pool every store function borrows connections from.
pub type Db = PgPool;

/// The migrations, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// PostgreSQL's "database does not exist".
const INVALID_CATALOG_NAME: &str = "3D000";
/// Another process created the database between our check and our `CREATE`.
const DUPLICATE_DATABASE: &str = "42P04";
const UNIQUE_VIOLATION: &str = "23505";

/// A pooled connection idle longer than this is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connects, creating the database first when it is missing; fails fast with a reason
/// that names the address and never the password.
pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DependencyError> {
    let options = settings
        .connect_options()
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let failed = |reason: String| DependencyError::postgres(settings.address(), reason);

    match probe(&options, settings.connect_timeout).await {
        Ok(()) => {}
        Err(err) if sql_state(&err).as_deref() == Some(INVALID_CATALOG_NAME) => {
            create_database(&options, settings.connect_timeout)
                .await
                .map_err(|err| failed(format!("cannot create the database: {}", describe(&err))))?;
        }
        Err(err) => return Err(failed(describe(&err))),
    }

    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        // sqlx pings every connection it hands out: a round trip per acquire, a third of
        // a parent's or student's request. Only a connection idle a while can have been
        // cut (a restart, a terminated backend) without anyone noticing; one in steady
        // use fails its next statement like any other, and is dropped then.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                Ok(meta.idle_for < PING_IF_IDLE_FOR || Connection::ping(conn).await.is_ok())
            })
        })
        .connect_with(options)
        .await
        .map_err(|err| failed(describe(&err)))
}

/// Applies pending migrations; applying them again changes nothing.
pub async fn migrate(db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(db).await
}

/// Connects to an existing database only (`bilet doctor` looks, it creates nothing): at
/// most one connection, bounded by the connect timeout.
pub async fn connect_existing(settings: &DatabaseSettings) -> Result<Db, DependencyError> {
    let failed = |reason: String| DependencyError::postgres(settings.address(), reason);
    let options = settings.connect_options();
    probe(&options, settings.connect_timeout)
        .await
        .map_err(|err| match sql_state(&err).as_deref() {
            Some(INVALID_CATALOG_NAME) => failed(
                "the database does not exist yet (`bilet migrate` or `bilet serve` creates it)"
                    .to_owned(),
            ),
            _ => failed(describe(&err)),
        })?;
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await
        .map_err(|err| failed(describe(&err)))
}

/// The server's version string, e.g. `PostgreSQL 15.19 (Debian …)`, first words only.
pub async fn server_version(db: &Db) -> Result<String, String> {
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(db)
        .await
        .map_err(|err| describe(&err))?;
    Ok(version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" "))
}

/// How the database's migrations compare with the ones in this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// In this binary and applied.
    pub applied: usize,
    /// In this binary, not applied yet (descriptions).
    pub pending: Vec<String>,
    /// Applied but unknown to this binary (a newer binary ran here).
    pub unknown: usize,
    /// Started and not finished (a failed migration).
    pub failed: Vec<i64>,
}

/// Reads `_sqlx_migrations` (absent: nothing applied yet).
pub async fn migration_status(db: &Db) -> Result<MigrationStatus, String> {
    const UNDEFINED_TABLE: &str = "42P01";
    let rows: Vec<(i64, bool)> =
        match sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(db)
            .await
        {
            Ok(rows) => rows,
            Err(err) if sql_state(&err).as_deref() == Some(UNDEFINED_TABLE) => Vec::new(),
            Err(err) => return Err(describe(&err)),
        };
    let known: Vec<&sqlx::migrate::Migration> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let done = |version: i64| rows.iter().any(|(v, ok)| *v == version && *ok);
    Ok(MigrationStatus {
        applied: known.iter().filter(|m| done(m.version)).count(),
        pending: known
            .iter()
            .filter(|m| !done(m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect(),
        unknown: rows
            .iter()
            .filter(|(v, _)| !known.iter().any(|m| m.version == *v))
            .count(),
        failed: rows.iter().filter(|(_, ok)| !ok).map(|(v, _)| *v).collect(),
    })
}

/// A trivial query bounded by `timeout`, for readiness checks.
pub async fn ping(db: &Db, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(db)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(describe(&err)),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// One connection attempt, bounded by the timeout (the pool would retry until it expires
/// and then report only that it timed out).
async fn probe(options: &PgConnectOptions, timeout: Duration) -> Result<(), sqlx::Error> {
    let connection = tokio::time::timeout(timeout, PgConnection::connect_with(options))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    connection.close().await
}

async fn create_database(options: &PgConnectOptions, timeout: Duration) -> Result<(), sqlx::Error> {
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let maintenance = options.clone().database("postgres");
    let mut connection = tokio::time::timeout(timeout, PgConnection::connect_with(&maintenance))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let statement = format!("CREATE DATABASE {}", quote_identifier(&name));
    let created = sqlx::query(&statement).execute(&mut connection).await;
    connection.close().await?;
    match created {
        Ok(_) => {
            tracing::info!(database = %name, "created the database");
            Ok(())
        }
        Err(err)
            if matches!(
                sql_state(&err).as_deref(),
                Some(DUPLICATE_DATABASE | UNIQUE_VIOLATION)
            ) =>
        {
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// Quotes an identifier for the one statement that cannot take a bind parameter.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_state(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// A short reason, without the URL or its password.
fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "timed out".to_owned(),
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_safely() {
        assert_eq!(quote_identifier("bilet"), "\"bilet\"");
        assert_eq!(quote_identifier("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}

//! The store's error: not found, a conflict named by its constraint, or the database's own
//! failure.

/// PostgreSQL's unique_violation.
const UNIQUE_VIOLATION: &str = "23505";
/// PostgreSQL's exclusion_violation.
const EXCLUSION_VIOLATION: &str = "23P01";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique or exclusion constraint refused the change.
    #[error("conflict on constraint {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db)
                if matches!(
                    db.code().as_deref(),
                    Some(UNIQUE_VIOLATION | EXCLUSION_VIOLATION)
                ) =>
            {
                StoreError::Conflict(db.constraint().unwrap_or_default().to_owned())
            }
            _ => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// True when the change was refused by the named constraint.
    pub fn is_conflict_on(&self, constraint: &str) -> bool {
        matches!(self, StoreError::Conflict(name) if name == constraint)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

//! The one place where database errors become [`StoreError`]s.

use postern_core::storage::StoreError;
use sea_orm::{DbErr, SqlErr};

/// Classifies a sea-orm error: unique violations become [`StoreError::Conflict`], foreign
/// key violations [`StoreError::MissingReference`], anything else [`StoreError::Backend`].
///
/// The messages are the database's own (constraint or index names); neither SQLite nor
/// PostgreSQL puts the offending values in them, so they are safe to log.
pub fn store_error(err: DbErr) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => StoreError::Conflict(message),
        Some(SqlErr::ForeignKeyConstraintViolation(message)) => {
            StoreError::MissingReference(message)
        }
        _ => StoreError::Backend(err.to_string()),
    }
}

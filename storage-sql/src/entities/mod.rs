//! sea-orm entities of Postern's tables (classic `DeriveEntityModel` style).
//!
//! Times are `BIGINT` epoch milliseconds, JSON values are `TEXT` holding serialized JSON,
//! hashes are lowercase hex `TEXT`. The entities describe the tables that
//! [`crate::Migrator`] creates; they are public for apps that want to read Postern's rows
//! with their own queries. Write through the repositories ([`crate::SeaRepos`]) instead:
//! they maintain derived columns (see [`contact_channel`]).

pub mod api_key;
pub mod api_key_set;
pub mod audit_event;
pub mod cli_auth_attempt;
pub mod contact_channel;
pub mod file;
pub mod oauth_account;
pub mod oauth_token;
pub mod outbox;
pub mod passkey;
pub mod project;
pub mod project_permission;
pub mod recovery_code;
pub mod session;
pub mod team;
pub mod team_member;
pub mod team_permission;
pub mod throttle;
pub mod user;
pub mod vault_entry;
pub mod verification_code;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;

//! # Postern core
//!
//! The framework-agnostic heart of Postern: projects, users, passwords, sessions and
//! ES256 access tokens, behind storage traits, with a REST API over plain `http` types that
//! is wire-compatible with Stack Auth's. Web frameworks mount it through thin adapters
//! (`postern-axum`); databases plug in through [`storage::Store`] (`postern-storage-sqlite`,
//! `postern-storage-postgres`).
//!
//! # Getting a `Postern`
//!
//! [`Postern::builder`] takes an `Arc<dyn Store>` and the server secret; see
//! [`PosternBuilder`] for the settings (public URL, password cost, token lifetime, previous
//! secrets for rotation).
//!
//! # Services
//!
//! - [`Postern::projects`]: projects, their config ([`ProjectConfig`]) and hashed keys.
//! - [`Postern::users`]: users, sign-up and sign-in with a password, updates with Stack's
//!   semantics ([`UserUpdate`]).
//! - [`Postern::sessions`]: refresh tokens, access-token minting and verification, JWKS.
//! - [`Postern::passkeys`]: passkey (WebAuthn) registration and sign-in.
//! - [`Postern::authenticate`] and friends: request headers to an [`Auth`], the entry
//!   point of every endpoint and adapter extractor.
//!
//! # REST
//!
//! [`Postern::handle`] answers one `http::Request<Bytes>`; errors are rendered in one place
//! with Stack's known-error codes ([`Error`]).
//!
//! # Feature flags
//!
//! - `conformance`: the store conformance suite (module `conformance`) for third-party stores.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod storage;

pub mod actor;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod files;
pub mod passwords;
pub mod secrets;
pub mod tokens;

pub use config::ProjectConfig;
pub use error::{AccessType, Error, PasswordRequirement, Refusal, RestrictedReason, Result};
pub use passwords::{PasswordHasher, PasswordParams};
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod auth;
mod claim;
pub mod cli_login;
pub mod codes;
pub mod config_secrets;
pub mod contact_channels;
pub mod email;
pub mod invitations;
pub mod ip_limits;
pub mod mfa;
pub mod model;
pub mod net;
pub mod oauth;
pub mod otp;
pub mod passkeys;
pub mod permissions;
mod postern;
pub mod projects;
pub mod rbac;
pub mod redirects;
pub mod sessions;
pub mod sign_up_rules;
pub mod step_up;
pub mod teams;
pub mod throttle;
pub mod users;
pub mod vault;
pub mod views;
pub mod webhooks;

pub use postern::{ConfigError, Postern, PosternBuilder};
pub use projects::{Project, ProjectKeys, Projects};
pub use sessions::{Session, Sessions, TokenPair};
pub use users::{ListUsers, SignedIn, User, UserPage, UserUpdate, Users};
pub mod rest;

pub use actor::Auth;
pub use rest::ApiPrefix;

//! # Postern core
//!
//! The framework-agnostic heart of Postern.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod storage;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

pub mod clock;
pub mod config;
pub mod error;
pub mod passwords;
pub mod secrets;
pub mod tokens;

pub use config::ProjectConfig;
pub use error::{AccessType, Error, PasswordRequirement, RestrictedReason, Result};
pub use passwords::{PasswordHasher, PasswordParams};
pub mod email;
pub mod projects;
pub mod redirects;
pub mod sessions;
pub mod users;
mod postern;

pub use postern::{ConfigError, Postern, PosternBuilder};
pub use projects::{Project, ProjectKeys, Projects};
pub use sessions::{Session, Sessions, TokenPair};
pub use users::{ListUsers, SignedIn, User, UserPage, UserUpdate, Users};
pub mod rest;

pub use rest::{ApiPrefix, Auth};

//! Email: address rules, the messages Postern sends, the [`Mailer`] trait with an SMTP
//! transport, and the outbox that delivers them.
//!
//! A message is written to the outbox in the same transaction as the change that causes it
//! (a sign-up, a reset request) and delivered after commit by a background worker with
//! retries: a rolled-back change sends nothing, and an SMTP outage delays mail without
//! losing it. Outbox payloads are sealed (AES-256-GCM under a key derived from the server
//! secret), so the links and codes inside them are not readable from a database dump.
//!
//! Without a mailer, messages are kept in the outbox with status `logged` and not
//! delivered. Their subjects and bodies carry codes and links, so they reach the log
//! (target `postern::email`) only when [`crate::PosternBuilder::log_email_bodies`] is on,
//! which is for development.

mod outbox;
mod smtp;
mod templates;
mod validate;

pub(crate) use outbox::{deliver_due, enqueue, notify, open, seal, spawn_worker};
pub use smtp::{SmtpMailer, SmtpSettings, SmtpTls};
pub(crate) use templates::{
    Notice, channel_auth_confirmation, magic_link, password_reset, security_notice, step_up_code,
    team_invitation, verification,
};
pub use templates::{clean, link_with_code};
pub use validate::{is_valid_email_lenient, is_valid_email_strict, normalize_email};

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One email. `Debug` leaves out the bodies (they carry codes).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Display name of the sender (the project's name); the address is the mailer's.
    pub from_name: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("from_name", &self.from_name)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// What went wrong (never the message body).
    pub message: String,
    /// Retrying cannot help (for example the server refused the recipient for good).
    pub permanent: bool,
}

impl MailError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Delivers email. [`SmtpMailer`] is the built-in transport; apps may plug in their own
/// (an HTTP mail API, a queue) with [`crate::PosternBuilder::mailer`].
///
/// ```
/// use postern_core::email::{Email, MailError, Mailer};
///
/// /// Hands mail to some other system.
/// struct Forward;
///
/// #[async_trait::async_trait]
/// impl Mailer for Forward {
///     async fn send(&self, email: &Email) -> Result<(), MailError> {
///         println!("would send {:?}", email.subject);
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message; an `Err` is retried later unless it is permanent.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

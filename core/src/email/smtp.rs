//! The SMTP transport (lettre).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::{Email, MailError, Mailer};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (only sensible for a relay on the same host).
    None,
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl SmtpTls {
    /// Parses `none`, `starttls` or `tls`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(SmtpTls::None),
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Tls),
            _ => None,
        }
    }

    /// The default for a host: none for loopback hosts, STARTTLS anywhere else.
    pub fn default_for(host: &str) -> Self {
        let loopback = host == "localhost"
            || host == "::1"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            SmtpTls::None
        } else {
            SmtpTls::StartTls
        }
    }
}

/// SMTP settings (`POSTERN_SMTP_*` in the server).
#[derive(Clone)]
pub struct SmtpSettings {
    /// Server host name.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS, 25 or a sink's port for none).
    pub port: u16,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<SecretString>,
    /// Sender address; the display name is the project's.
    pub sender: String,
    /// Connection security.
    pub tls: SmtpTls,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("sender", &self.sender)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Sends mail over SMTP, one connection per message (auth mail is rare; nothing runs in
/// the background, so the mailer can be built outside a runtime).
///
/// ```
/// use postern_core::email::{SmtpMailer, SmtpSettings, SmtpTls};
/// let mailer = SmtpMailer::new(SmtpSettings {
///     host: "127.0.0.1".into(),
///     port: 2525,
///     username: None,
///     password: None,
///     sender: "noreply@example.com".into(),
///     tls: SmtpTls::default_for("127.0.0.1"),
/// })
/// .unwrap();
/// # drop(mailer);
/// ```
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: lettre::Address,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("sender", &self.sender.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Builds the transport; fails on a sender that is not an address or a bad TLS setup.
    /// Nothing is connected until the first message.
    pub fn new(settings: SmtpSettings) -> Result<Self, MailError> {
        let sender: lettre::Address = settings.sender.parse().map_err(|e| {
            MailError::permanent(format!("invalid sender address {}: {e}", settings.sender))
        })?;
        let builder = match settings.tls {
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(|e| MailError::permanent(format!("SMTP TLS setup: {e}")))?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|e| MailError::permanent(format!("SMTP TLS setup: {e}")))?,
        };
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(Duration::from_secs(15)));
        if let Some(user) = settings.username {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            sender,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let to: lettre::Address = email
            .to
            .parse()
            .map_err(|e| MailError::permanent(format!("invalid recipient address: {e}")))?;
        let message = Message::builder()
            .from(Mailbox::new(
                Some(email.from_name.clone()),
                self.sender.clone(),
            ))
            .to(Mailbox::new(None, to))
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::permanent(format!("building the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(MailError::transient(format!("SMTP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_defaults_to_none_only_on_loopback() {
        assert_eq!(SmtpTls::default_for("127.0.0.1"), SmtpTls::None);
        assert_eq!(SmtpTls::default_for("localhost"), SmtpTls::None);
        assert_eq!(SmtpTls::default_for("::1"), SmtpTls::None);
        assert_eq!(SmtpTls::default_for("smtp.example.com"), SmtpTls::StartTls);
        assert_eq!(SmtpTls::default_for("10.0.0.1"), SmtpTls::StartTls);
        assert_eq!(SmtpTls::parse("STARTTLS"), Some(SmtpTls::StartTls));
        assert_eq!(SmtpTls::parse("ssl"), None);
    }
}

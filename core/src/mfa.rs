//! TOTP multi-factor authentication (§9.4 of the contract): a sign-in whose first factor
//! succeeded for a user with a TOTP secret answers `MULTI_FACTOR_AUTHENTICATION_REQUIRED`
//! with a five-minute attempt code; `POST /auth/mfa/sign-in` finishes it with a TOTP.
//!
//! TOTP secrets are stored sealed (AES-256-GCM under a key derived from the server secret,
//! bound to the user id), so a database dump does not yield them.

use serde_json::json;
use totp_rs::{Algorithm, Builder};
use uuid::Uuid;

use crate::codes::{self};
use crate::error::{Error, Result};
use crate::otp::OtpSignIn;
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{CodePurpose, UserRecord};
use crate::users::{SignedIn, User};

/// Lifetime of an MFA attempt code: 5 minutes.
pub const ATTEMPT_LIFETIME_MILLIS: i64 = 5 * 60 * 1000;

/// The TOTP sealing key for a server secret.
pub(crate) fn seal_key(secret: &[u8]) -> [u8; 32] {
    crate::secrets::derive_key(secret, b"postern/totp/v1", b"aes-256-gcm")
}

/// Seals a TOTP secret for storage with the user's row.
pub(crate) fn seal_secret(p: &Postern, user_id: Uuid, secret: &[u8]) -> Result<Vec<u8>> {
    crate::secrets::seal(&p.inner.totp_keys[0], user_id.as_bytes(), secret)
        .ok_or_else(|| Error::Internal("sealing a TOTP secret failed".into()))
}

fn totp(secret: &[u8]) -> totp_rs::Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(0)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .build_noncompliant()
}

/// The RFC 6238 code (HMAC-SHA-1, 30 s, 6 digits) of `secret` at `now_secs`, as an
/// authenticator app shows it.
///
/// ```
/// use postern_core::mfa::{totp_code, totp_matches};
/// let code = totp_code(b"12345678901234567890", 59);
/// assert_eq!(code, "287082");
/// assert!(totp_matches(b"12345678901234567890", &code, 59));
/// ```
pub fn totp_code(secret: &[u8], now_secs: u64) -> String {
    totp(secret).generate(now_secs).to_string()
}

/// Whether `totp` is the current RFC 6238 code (HMAC-SHA-1, 30 s, 6 digits) of `secret`.
/// Only the current step counts, as Stack.
pub fn totp_matches(secret: &[u8], code: &str, now_secs: u64) -> bool {
    totp(secret).check(code, now_secs).is_some()
}

/// When the user has a TOTP secret, writes an attempt code and answers
/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` with it; otherwise `Ok`.
pub(crate) async fn require_second_factor(
    p: &Postern,
    project: &Project,
    rec: &UserRecord,
    is_new_user: bool,
) -> Result<()> {
    if rec.totp_secret.is_none() {
        return Ok(());
    }
    let (code, record) = codes::new_code(
        &project.id,
        CodePurpose::MfaAttempt,
        Some(rec.id),
        json!({ "is_new_user": is_new_user }),
        p.inner.clock.now_millis(),
        ATTEMPT_LIFETIME_MILLIS,
    );
    p.inner.store.codes().insert(&record).await?;
    Err(Error::MultiFactorAuthenticationRequired(code))
}

/// MFA operations; from [`Postern::mfa`].
#[derive(Debug, Clone, Copy)]
pub struct Mfa<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Multi-factor authentication.
    pub fn mfa(&self) -> Mfa<'_> {
        Mfa { p: self }
    }
}

impl Mfa<'_> {
    /// Finishes a sign-in with the attempt code and a TOTP. A wrong TOTP leaves the attempt
    /// code usable (its attempts are counted).
    pub async fn sign_in(
        &self,
        project: &Project,
        attempt_code: &str,
        totp: &str,
    ) -> Result<OtpSignIn> {
        let record =
            codes::check(self.p, &project.id, CodePurpose::MfaAttempt, attempt_code).await?;
        let user_id = record.user_id.ok_or(Error::VerificationCodeNotFound)?;
        let store = &self.p.inner.store;
        let (rec, channels) = crate::users::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let secret = rec
            .totp_secret
            .as_deref()
            .and_then(|s| crate::secrets::open(&self.p.inner.totp_keys, rec.id.as_bytes(), s))
            .ok_or(Error::InvalidTotpCode)?;
        let now = self.p.inner.clock.now_millis();
        if !totp_matches(&secret, totp, (now / 1000) as u64) {
            return Err(Error::InvalidTotpCode);
        }
        let tx = store.begin().await?;
        codes::consume(self.p, &*tx, &record).await?;
        let (session, refresh_token) =
            crate::sessions::insert_session(&*tx, &project.id, rec.id, now, None, false).await?;
        tx.users().touch(&project.id, rec.id, now).await?;
        tx.commit().await?;
        let mut user = User::from_parts(&rec, &channels, &project.config);
        user.last_active_at_millis = now;
        let access_token = self.p.sessions().mint(project, &user, session.id)?;
        Ok(OtpSignIn {
            signed_in: SignedIn {
                user_id: rec.id,
                refresh_token,
                access_token,
            },
            is_new_user: record.data["is_new_user"].as_bool().unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8 digits truncated to 6.
        let secret = b"12345678901234567890";
        assert!(totp_matches(secret, "287082", 59));
        assert!(totp_matches(secret, "081804", 1_111_111_109));
        assert!(
            !totp_matches(secret, "081804", 1_111_111_109 + 30),
            "no drift window"
        );
        assert!(!totp_matches(secret, "000000", 59));
    }
}

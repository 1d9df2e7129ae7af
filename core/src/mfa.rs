//! TOTP multi-factor authentication (§9.4 of the contract): a sign-in whose first factor
//! succeeded for a user with a TOTP secret answers `MULTI_FACTOR_AUTHENTICATION_REQUIRED`
//! with a five-minute attempt code; `POST /auth/mfa/sign-in` finishes it with a TOTP, or
//! (a Postern extension) with a recovery code.
//!
//! - TOTP secrets are stored sealed (AES-256-GCM under a key derived from the server
//!   secret, bound to the user id), so a database dump does not yield them.
//! - Each accepted code's time step is stored, and a code of that step or an earlier one is
//!   refused: a code seen over a shoulder or in a log cannot be used again.
//! - Wrong codes count toward the account's `totp` failure run, across attempt codes: a
//!   new password sign-in does not start a fresh budget.
//! - Recovery codes (a Postern extension): ten single-use codes of 80 random bits, shown
//!   once and stored as an HMAC under a key derived from the server secret.

use hmac::{KeyInit, Mac};
use serde_json::json;
use totp_rs::{Algorithm, Builder};
use uuid::Uuid;

use crate::codes::{self};
use crate::error::{Error, Result};
use crate::model::OtpSignIn;
use crate::model::User;
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::{hex, random_crockford};
use crate::step_up::{self, Caller};
use crate::storage::{CodePurpose, RecoveryCodeRecord, UserRecord};
use crate::throttle::{Factor, Subject};

/// Lifetime of an MFA attempt code: 5 minutes.
pub const ATTEMPT_LIFETIME_MILLIS: i64 = 5 * 60 * 1000;
/// Recovery codes generated at once.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (Crockford base32, 5 bits each), shown in groups of four.
pub const RECOVERY_CODE_LENGTH: usize = 16;
/// The TOTP time step, in seconds.
const STEP_SECS: u64 = 30;

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
        .with_step_duration(STEP_SECS)
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

/// What finishes a second step: a TOTP, or a recovery code.
#[derive(Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// A six-digit TOTP.
    Totp(String),
    /// A recovery code (`xxxx-xxxx-xxxx-xxxx`; case, dashes and spaces do not matter).
    RecoveryCode(String),
}

impl std::fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecondFactor::Totp(_) => f.write_str("Totp(..)"),
            SecondFactor::RecoveryCode(_) => f.write_str("RecoveryCode(..)"),
        }
    }
}

impl SecondFactor {
    /// A TOTP if `input` looks like one (digits only), else a recovery code: what users
    /// type into a TOTP box.
    pub fn guess(input: &str) -> Self {
        if input.trim().chars().all(|c| c.is_ascii_digit()) {
            SecondFactor::Totp(input.trim().to_owned())
        } else {
            SecondFactor::RecoveryCode(input.to_owned())
        }
    }

    fn method(&self) -> &'static str {
        match self {
            SecondFactor::Totp(_) => "totp",
            SecondFactor::RecoveryCode(_) => "recovery_code",
        }
    }
}

/// A recovery code as typed, reduced to its 16 characters (`None` if it cannot be one).
fn normalize_recovery_code(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    crate::secrets::is_crockford(&c, RECOVERY_CODE_LENGTH).then_some(c)
}

fn recovery_hash(key: &[u8; 32], user_id: Uuid, code: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(user_id.as_bytes());
    mac.update(code.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Checks a second factor of `rec` (TOTP secret present) and spends it: the TOTP's time
/// step is recorded (a replay fails), a recovery code is marked used. Failures count toward
/// the account's `totp` run and are written to the audit log as `failure_event`; while the
/// run says to wait, every attempt is refused (`429`).
pub(crate) async fn verify_second_factor(
    p: &Postern,
    project: &Project,
    rec: &UserRecord,
    factor: &SecondFactor,
    failure_event: &str,
) -> Result<()> {
    let attempt = p
        .throttle()
        .begin(project, Factor::Totp, &Subject::User(rec.id))
        .await?;
    let store = &p.inner.store;
    let now = p.inner.clock.now_millis();
    let ok = match factor {
        SecondFactor::Totp(code) => {
            let secret = rec
                .totp_secret
                .as_deref()
                .and_then(|s| crate::secrets::open(&p.inner.totp_keys, rec.id.as_bytes(), s));
            let now_s = (now / 1000) as u64;
            match secret {
                Some(secret) if totp_matches(&secret, code.trim(), now_s) => {
                    let step = (now_s / STEP_SECS) as i64;
                    store
                        .users()
                        .advance_totp_step(&project.id, rec.id, step)
                        .await?
                }
                _ => false,
            }
        }
        SecondFactor::RecoveryCode(code) => match normalize_recovery_code(code) {
            Some(code) if rec.totp_secret.is_some() => {
                let mut used = false;
                for key in &p.inner.recovery_keys {
                    let hash = recovery_hash(key, rec.id, &code);
                    if store
                        .recovery_codes()
                        .use_code(&project.id, rec.id, &hash, now)
                        .await?
                    {
                        used = true;
                        break;
                    }
                }
                if used {
                    let left = store
                        .recovery_codes()
                        .count_unused(&project.id, rec.id)
                        .await?;
                    crate::audit::record(
                        p,
                        &**store,
                        &project.id,
                        "mfa.recovery_code_used",
                        Some(rec.id),
                        json!({ "remaining": left }),
                    )
                    .await?;
                }
                used
            }
            _ => false,
        },
    };
    if ok {
        return p.throttle().succeeded(&**store, project, attempt).await;
    }
    let tx = store.begin().await?;
    p.throttle().failed(&*tx, project, attempt).await?;
    crate::audit::record(
        p,
        &*tx,
        &project.id,
        failure_event,
        Some(rec.id),
        json!({ "method": factor.method(), "reason": "invalid_code" }),
    )
    .await?;
    tx.commit().await?;
    Err(Error::InvalidTotpCode)
}

/// When the user has a TOTP secret, writes an attempt code and answers
/// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` with it; otherwise `Ok`. `claim` names the
/// channel whose proof the first step was (an OTP sign-in): the claim happens once the
/// second step succeeds.
pub(crate) async fn require_second_factor(
    p: &Postern,
    project: &Project,
    rec: &UserRecord,
    is_new_user: bool,
    claim: Option<Uuid>,
) -> Result<()> {
    if rec.totp_secret.is_none() {
        return Ok(());
    }
    let (code, record) = codes::new_code(
        &project.id,
        CodePurpose::MfaAttempt,
        Some(rec.id),
        json!({ "is_new_user": is_new_user, "claim_channel_id": claim }),
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
    /// Finishes a sign-in with the attempt code and a second factor. A wrong factor leaves
    /// the attempt code usable (its attempts are counted, and so are the account's).
    pub async fn sign_in(
        &self,
        project: &Project,
        attempt_code: &str,
        factor: &SecondFactor,
    ) -> Result<OtpSignIn> {
        let record = codes::check(self.p, project, CodePurpose::MfaAttempt, attempt_code).await?;
        let user_id = record.user_id.ok_or(Error::VerificationCodeNotFound)?;
        let store = &self.p.inner.store;
        let (rec, _) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        verify_second_factor(self.p, project, &rec, factor, "sign_in.failed").await?;
        let claim: Option<Uuid> = record.data["claim_channel_id"]
            .as_str()
            .and_then(|s| s.parse().ok());
        let tx = store.begin().await?;
        codes::consume(self.p, &*tx, &record).await?;
        if let Some(channel) = claim {
            crate::claim::claim(
                self.p,
                &*tx,
                project,
                user_id,
                channel,
                crate::claim::Proof::Otp,
            )
            .await?;
        }
        if matches!(factor, SecondFactor::Totp(_)) && !rec.totp_proven {
            // A code from the secret after a full first factor: whoever enrolled it holds
            // the account's credentials, so the secret now counts for step-up.
            if let Some(mut fresh) = tx.users().get(&project.id, user_id).await?
                && fresh.totp_secret == rec.totp_secret
            {
                fresh.totp_proven = true;
                tx.users().update(&fresh).await?;
            }
        }
        let opened = crate::auth::session::open(
            self.p,
            &*tx,
            &project.id,
            user_id,
            crate::auth::session::Opening::SignIn(factor.method()),
        )
        .await?;
        let (rec, channels) = crate::model::load(&*tx, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        let user = User::from_parts(&rec, &channels, &project.config);
        Ok(OtpSignIn {
            signed_in: opened.tokens(self.p, project, &user)?,
            is_new_user: record.data["is_new_user"].as_bool().unwrap_or(false),
        })
    }

    /// Generates the user's recovery codes, replacing any earlier ones, and returns them
    /// (shown once; only their HMAC is kept), as a trusted caller. The user must have TOTP.
    pub async fn generate_recovery_codes(
        &self,
        project: &Project,
        user_id: Uuid,
    ) -> Result<Vec<String>> {
        self.generate_recovery_codes_as(project, user_id, Caller::Trusted)
            .await
    }

    /// [`Mfa::generate_recovery_codes`] as `caller`: a client needs a step-up token proven
    /// with a (proven) TOTP code or an email code; not the password, since recovery codes
    /// stand in for the second factor.
    pub async fn generate_recovery_codes_as(
        &self,
        project: &Project,
        user_id: Uuid,
        caller: Caller<'_>,
    ) -> Result<Vec<String>> {
        let store = &self.p.inner.store;
        let (rec, channels) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if rec.totp_secret.is_none() {
            return Err(Error::MfaNotEnabled);
        }
        let token = step_up::require_for(
            self.p,
            project,
            caller,
            &rec,
            &channels,
            step_up::RECOVERY_PROOFS,
        )
        .await?;
        let now = self.p.inner.clock.now_millis();
        let key = &self.p.inner.recovery_keys[0];
        let mut shown = Vec::with_capacity(RECOVERY_CODES);
        let mut rows = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = random_crockford(RECOVERY_CODE_LENGTH);
            rows.push(RecoveryCodeRecord {
                project_id: project.id.clone(),
                user_id,
                id: Uuid::new_v4(),
                code_hash: recovery_hash(key, user_id, &code),
                created_at_millis: now,
                used_at_millis: None,
            });
            let groups: Vec<&str> = (0..RECOVERY_CODE_LENGTH)
                .step_by(4)
                .map(|i| &code[i..i + 4])
                .collect();
            shown.push(groups.join("-"));
        }
        let tx = store.begin().await?;
        step_up::spend(self.p, &*tx, token.as_ref()).await?;
        tx.recovery_codes()
            .replace_for_user(&project.id, user_id, &rows)
            .await?;
        crate::audit::record(
            self.p,
            &*tx,
            &project.id,
            "mfa.recovery_codes_generated",
            Some(user_id),
            json!({ "count": RECOVERY_CODES }),
        )
        .await?;
        tx.commit().await?;
        Ok(shown)
    }

    /// How many of the user's recovery codes are left.
    pub async fn recovery_codes_remaining(&self, project: &Project, user_id: Uuid) -> Result<u64> {
        Ok(self
            .p
            .inner
            .store
            .recovery_codes()
            .count_unused(&project.id, user_id)
            .await?)
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

    #[test]
    fn recovery_codes_normalise() {
        assert_eq!(
            normalize_recovery_code("ABCD-EFGH-JKMN-PQRS").as_deref(),
            Some("abcdefghjkmnpqrs")
        );
        assert_eq!(
            normalize_recovery_code(" abcd efgh jkmn pqrs ").as_deref(),
            Some("abcdefghjkmnpqrs")
        );
        assert_eq!(normalize_recovery_code("abcd-efgh"), None);
        assert_eq!(
            normalize_recovery_code("abcd-efgh-ijkl-mnop"),
            None,
            "i, l, o are not Crockford"
        );
        assert!(matches!(
            SecondFactor::guess("123456"),
            SecondFactor::Totp(_)
        ));
        assert!(matches!(
            SecondFactor::guess("abcd-efgh-jkmn-pqrs"),
            SecondFactor::RecoveryCode(_)
        ));
        let k = [7u8; 32];
        let u = Uuid::new_v4();
        assert_ne!(
            recovery_hash(&k, u, "a"),
            recovery_hash(&k, Uuid::new_v4(), "a")
        );
    }
}

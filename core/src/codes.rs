//! Verification codes (§7 of the contract): 45 Crockford characters, stored only as the
//! SHA-256 of the code and of its nonce (the last 39 characters), single use, expiring,
//! with at most [`MAX_ATTEMPTS`] requests per nonce.
//!
//! Consumption happens inside the transaction of the flow that uses the code: a flow that
//! fails (a too-short new password, a deleted channel) rolls the use back, so a failed
//! attempt does not burn the link. Attempts are counted outside that transaction, before
//! the lookup, so they count whatever happens next.

use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::{ct_eq, hash_secret, is_crockford, random_crockford};
use crate::storage::{CodePurpose, Repos, VerificationCodeRecord};
use crate::throttle::{Factor, Subject};

/// Length of every code.
pub const CODE_LENGTH: usize = 45;
/// Length of the nonce (the code's tail shared by the OTP and its link).
pub const NONCE_LENGTH: usize = 39;
/// Requests allowed against one nonce.
pub const MAX_ATTEMPTS: i32 = 20;
/// Lifetime of email-verification, reset and OTP codes: 7 days.
pub const DEFAULT_LIFETIME_MILLIS: i64 = 7 * 24 * 3600 * 1000;

/// A fresh code and the row that stores it.
pub(crate) fn new_code(
    project_id: &str,
    purpose: CodePurpose,
    user_id: Option<Uuid>,
    data: Value,
    now_millis: i64,
    lifetime_millis: i64,
) -> (String, VerificationCodeRecord) {
    let code = random_crockford(CODE_LENGTH);
    let record = VerificationCodeRecord {
        project_id: project_id.to_owned(),
        id: Uuid::new_v4(),
        purpose,
        code_hash: hash_secret(&code),
        nonce_hash: hash_secret(nonce_of(&code)),
        user_id,
        data,
        created_at_millis: now_millis,
        expires_at_millis: now_millis + lifetime_millis,
        used_at_millis: None,
        attempt_count: 0,
    };
    (code, record)
}

fn nonce_of(code: &str) -> &str {
    &code[code.len() - NONCE_LENGTH..]
}

/// Looks a submitted code up and checks it, in Stack's order: attempt counted, then not
/// found, expired, already used, too many attempts. Does not consume it.
///
/// The code is found by its nonce (its last 39 characters), then compared whole in
/// constant time. Every request against a nonce counts toward that code's attempts. A
/// step-up code (whose nonce its requester knows, and which only its own user can ask for)
/// also counts toward the user's `code` failure run: while the run says to wait, every
/// attempt is refused (`429`), right or wrong, so the refusal tells nothing about the
/// guess. Other codes are limited per code only: their nonce is secret (a link's code) or
/// anyone may ask for one (OTP sign-in), so an account-wide run would only let strangers
/// lock owners out.
pub(crate) async fn check(
    p: &Postern,
    project: &Project,
    purpose: CodePurpose,
    submitted: &str,
) -> Result<VerificationCodeRecord> {
    let code = submitted.to_lowercase();
    if !is_crockford(&code, CODE_LENGTH) {
        // Cannot be any stored code (and has no nonce to count against).
        return Err(Error::VerificationCodeNotFound);
    }
    let store = &p.inner.store;
    let nonce_hash = hash_secret(nonce_of(&code));
    store
        .codes()
        .count_attempt(&project.id, &nonce_hash)
        .await?;
    let record = store
        .codes()
        .find_by_nonce(&project.id, purpose, &nonce_hash)
        .await?
        .ok_or(Error::VerificationCodeNotFound)?;
    let attempt = match (purpose, record.user_id) {
        (CodePurpose::StepUpCode, Some(user)) => Some(
            p.throttle()
                .begin(project, Factor::Code, &Subject::User(user))
                .await?,
        ),
        _ => None,
    };
    let matches = ct_eq(record.code_hash.as_bytes(), hash_secret(&code).as_bytes());
    if let Some(attempt) = attempt {
        if matches {
            p.throttle().succeeded(&**store, project, attempt).await?;
        } else {
            p.throttle().failed(&**store, project, attempt).await?;
        }
    }
    if !matches {
        return Err(Error::VerificationCodeNotFound);
    }
    if record.expires_at_millis <= p.inner.clock.now_millis() {
        return Err(Error::VerificationCodeExpired);
    }
    if record.used_at_millis.is_some() {
        return Err(Error::VerificationCodeAlreadyUsed);
    }
    // The stored count includes this request's increment.
    if record.attempt_count > MAX_ATTEMPTS {
        return Err(Error::VerificationCodeMaxAttemptsReached);
    }
    Ok(record)
}

/// Marks a checked code used inside the flow's transaction; a concurrent use that got
/// there first makes this `VERIFICATION_CODE_ALREADY_USED`.
pub(crate) async fn consume(
    p: &Postern,
    tx: &dyn Repos,
    record: &VerificationCodeRecord,
) -> Result<()> {
    if tx
        .codes()
        .mark_used(&record.project_id, record.id, p.inner.clock.now_millis())
        .await?
    {
        Ok(())
    } else {
        Err(Error::VerificationCodeAlreadyUsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_hash_code_and_nonce() {
        let (code, rec) = new_code(
            "p",
            CodePurpose::PasswordReset,
            None,
            Value::Null,
            1_000,
            DEFAULT_LIFETIME_MILLIS,
        );
        assert!(is_crockford(&code, CODE_LENGTH));
        assert_eq!(rec.code_hash, hash_secret(&code));
        assert_eq!(rec.nonce_hash, hash_secret(&code[6..]));
        assert!(!rec.code_hash.contains(&code));
        assert_eq!(rec.expires_at_millis, 1_000 + DEFAULT_LIFETIME_MILLIS);
        let (other, _) = new_code("p", CodePurpose::PasswordReset, None, Value::Null, 0, 1);
        assert_ne!(code, other);
    }
}

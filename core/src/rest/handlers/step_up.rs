//! Step-up proofs and MFA recovery codes.

use super::*;
use crate::rest::input::input;

input! {
    /// `POST /auth/step-up/send-code` `{callback_url?}` → `{nonce}`.
    pub(crate) struct SendStepUpCode in Body {
        callback_url: Option<String> => url,
    }
}

/// `POST /auth/step-up/send-code`: mails a code that proves the signed-in user reads the
/// primary address.
pub(crate) async fn send_code(rq: Rq<'_>, b: SendStepUpCode) -> Result<Json<NonceView>> {
    let auth = rq.auth()?;
    let user = signed_in(auth)?;
    let nonce =
        rq.p.step_up()
            .send_code(&auth.project, user, b.callback_url.as_deref())
            .await?;
    Ok(Json::ok(NonceView { nonce }))
}

input! {
    /// `POST /auth/step-up`: exactly one of `password`, `totp`, `code`.
    pub(crate) struct StepUpProof in Body {
        password: Option<String>,
        totp: Option<String>,
        code: Option<String>,
    }
    check(this, f, _rq) {
        if this.proofs().len() != 1 {
            f.fail_raw("body must have exactly one of password, totp, code");
        }
    }
}

impl StepUpProof {
    fn proofs(&self) -> Vec<Proof> {
        [
            self.password.clone().map(Proof::Password),
            self.totp.clone().map(Proof::Totp),
            self.code.clone().map(Proof::EmailCode),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// `POST /auth/step-up` → `{step_up_token, method, expires_at_millis}`.
pub(crate) async fn prove(rq: Rq<'_>, b: StepUpProof) -> Result<Json<StepUpTokenView>> {
    let auth = rq.auth()?;
    let user = signed_in(auth)?;
    let proof = b.proofs().pop().ok_or(Error::UserAuthenticationRequired)?;
    let grant =
        rq.p.step_up()
            .prove(&auth.project, user, auth.session_id(), &proof)
            .await?;
    Ok(Json::ok(StepUpTokenView {
        step_up_token: grant.token,
        method: grant.method.as_str(),
        expires_at_millis: grant.expires_at_millis,
    }))
}

/// `GET /auth/mfa/recovery-codes` → `{remaining}`.
pub(crate) async fn recovery_codes_remaining(
    rq: Rq<'_>,
    _: NoQuery,
) -> Result<Json<RecoveryCodesLeftView>> {
    let auth = rq.auth()?;
    let user = signed_in(auth)?;
    let remaining =
        rq.p.mfa()
            .recovery_codes_remaining(&auth.project, user)
            .await?;
    Ok(Json::ok(RecoveryCodesLeftView { remaining }))
}

/// `POST /auth/mfa/recovery-codes` → `{recovery_codes}` (shown once; a client needs a
/// step-up token proven with a TOTP or an email code).
pub(crate) async fn generate_recovery_codes(
    rq: Rq<'_>,
    _: EmptyBody,
) -> Result<Json<RecoveryCodesView>> {
    let auth = rq.auth()?;
    let user = signed_in(auth)?;
    let codes =
        rq.p.mfa()
            .generate_recovery_codes_as(&auth.project, user, caller(&rq, auth))
            .await?;
    Ok(Json::ok(RecoveryCodesView {
        recovery_codes: codes,
    }))
}

//! Step-up proofs and MFA recovery codes.

use super::*;

/// `POST /auth/step-up/send-code` `{callback_url?}` → `{nonce}`.
pub(crate) async fn send_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["callback_url"]);
    let callback = f.opt_str("callback_url");
    check_url_field(&mut f, "callback_url", &callback);
    f.finish()?;
    let user = signed_in(auth)?;
    let nonce =
        rq.p.step_up()
            .send_code(&auth.project, user, callback.as_deref())
            .await?;
    Ok(json(StatusCode::OK, &json!({ "nonce": nonce })))
}

/// `POST /auth/step-up` with exactly one of `password`, `totp`, `code` →
/// `{step_up_token, method, expires_at_millis}`.
pub(crate) async fn prove(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["password", "totp", "code"]);
    let given = [
        f.opt_str("password").map(Proof::Password),
        f.opt_str("totp").map(Proof::Totp),
        f.opt_str("code").map(Proof::EmailCode),
    ];
    let mut given: Vec<Proof> = given.into_iter().flatten().collect();
    if given.len() != 1 {
        f.fail_raw("body must have exactly one of password, totp, code");
    }
    f.finish()?;
    let user = signed_in(auth)?;
    let proof = given.pop().ok_or(Error::UserAuthenticationRequired)?;
    let grant =
        rq.p.step_up()
            .prove(&auth.project, user, auth.session_id(), &proof)
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "step_up_token": grant.token,
            "method": grant.method.as_str(),
            "expires_at_millis": grant.expires_at_millis,
        }),
    ))
}

/// `GET /auth/mfa/recovery-codes` → `{remaining}`; `POST` → `{recovery_codes}` (shown
/// once; a client needs a step-up token proven with a TOTP or an email code).
pub(crate) async fn recovery_codes(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let user = signed_in(auth)?;
    if rq.method == http::Method::GET {
        Fields::query(&rq.query, &[]).finish()?;
        let remaining =
            rq.p.mfa()
                .recovery_codes_remaining(&auth.project, user)
                .await?;
        return Ok(json(StatusCode::OK, &json!({ "remaining": remaining })));
    }
    Fields::body(&rq.body, &[]).finish()?;
    let codes =
        rq.p.mfa()
            .generate_recovery_codes_as(&auth.project, user, caller(&rq, auth))
            .await?;
    Ok(json(StatusCode::OK, &json!({ "recovery_codes": codes })))
}

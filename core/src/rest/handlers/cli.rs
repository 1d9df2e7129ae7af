//! CLI login: `/auth/cli`, `/auth/cli/poll`, `/auth/cli/complete` (contract rest-oauth §13).

use super::*;
use crate::cli_login::PollStatus;

input! {
    /// `POST /auth/cli` (the body may be omitted).
    pub(crate) struct CliStart in Body {
        expires_in_millis: Option<f64>,
        anon_refresh_token: Option<String>,
    }
    check(this, f, _rq) {
        if let Some(ms) = this.expires_in_millis
            && !(ms >= 1.0 && ms <= crate::cli_login::MAX_EXPIRY_MILLIS as f64)
        {
            f.fail(
                "expires_in_millis",
                &format!(
                    "must be between 1 and {}",
                    crate::cli_login::MAX_EXPIRY_MILLIS
                ),
            );
        }
    }
}

/// A new CLI login attempt.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CliAttemptView {
    /// What the CLI polls with.
    polling_code: String,
    /// What the browser completes with.
    login_code: String,
    /// Expiry, ISO 8601.
    expires_at: String,
}

pub(crate) async fn start(rq: Rq<'_>) -> Result<Json<CliAttemptView>> {
    // Stack accepts a missing body here.
    let b = if matches!(rq.body, crate::rest::input::Body::None) {
        CliStart {
            expires_in_millis: None,
            anon_refresh_token: None,
        }
    } else {
        <CliStart as crate::rest::input::Input>::parse(&rq)?
    };
    let auth = rq.auth()?;
    let a =
        rq.p.cli_login()
            .start(
                &auth.project,
                b.expires_in_millis.map(|m| m as i64),
                b.anon_refresh_token.as_deref().filter(|t| !t.is_empty()),
            )
            .await?;
    Ok(Json::ok(CliAttemptView {
        polling_code: a.polling_code,
        login_code: a.login_code,
        expires_at: crate::clock::iso8601(a.expires_at_millis),
    }))
}

input! {
    /// `POST /auth/cli/poll`.
    pub(crate) struct CliPoll in Body {
        polling_code: String,
    }
}

pub(crate) async fn poll(rq: Rq<'_>, b: CliPoll) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let status =
        rq.p.cli_login()
            .poll(&auth.project, &b.polling_code)
            .await?;
    Ok(match status {
        PollStatus::Waiting => json(StatusCode::OK, &json!({ "status": "waiting" })),
        PollStatus::Expired => json(StatusCode::OK, &json!({ "status": "expired" })),
        PollStatus::Used => json(StatusCode::OK, &json!({ "status": "used" })),
        PollStatus::Success(refresh_token) => json(
            StatusCode::CREATED,
            &json!({ "status": "success", "refresh_token": refresh_token }),
        ),
    })
}

input! {
    /// `POST /auth/cli/complete`.
    pub(crate) struct CliComplete in Body {
        login_code: String,
        mode: Option<String>,
        refresh_token: Option<String>,
    }
    check(this, f, _rq) {
        if let Some(m) = &this.mode
            && !["check", "claim-anon-session", "complete"].contains(&m.as_str())
        {
            f.fail(
                "mode",
                "must be one of the following values: check, claim-anon-session, complete",
            );
        }
    }
}

pub(crate) async fn complete(rq: Rq<'_>, b: CliComplete) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let cli = rq.p.cli_login();
    Ok(match b.mode.as_deref().unwrap_or("complete") {
        "check" => {
            let anonymous = cli
                .has_anonymous_session(&auth.project, &b.login_code)
                .await?;
            json(
                StatusCode::OK,
                &json!({ "cli_session_state": if anonymous { "anonymous" } else { "none" } }),
            )
        }
        "claim-anon-session" => {
            let (access_token, refresh_token) = cli
                .claim_anonymous_session(&auth.project, &b.login_code)
                .await?;
            json(
                StatusCode::OK,
                &json!({ "access_token": access_token, "refresh_token": refresh_token }),
            )
        }
        _ => {
            cli.complete(&auth.project, &b.login_code, b.refresh_token.as_deref())
                .await?;
            json(StatusCode::OK, &json!({ "success": true }))
        }
    })
}

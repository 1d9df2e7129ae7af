//! Account pre-hijacking defence: when the owner of an account's sign-in address proves it,
//! what was set before that proof by whoever created the account stops working.
//!
//! An attacker can sign up with a victim's address before the victim does, set a password,
//! keep a session, create an API key, and wait. Upstream then hands the account to the
//! victim on a password reset, with the attacker's session and key still working.
//!
//! Postern keeps, per user, when the account was *claimed*: when the owner of its sign-in
//! address first entered it through that address. An account created by a server, or by an
//! OTP / magic-link sign-up (which proves the address), is claimed at creation; a password
//! or anonymous sign-up is not.
//!
//! - **Claim** (the first password reset, or the first OTP / magic-link sign-in into the
//!   account, after its second factor if it has one): every session, every access token
//!   issued before, every user API key, every other unverified contact channel, the
//!   sign-in confirmation of every other verified one and, unless the proof set it, the
//!   password are revoked; an anonymous account becomes a regular one. The TOTP secret
//!   stays: removing it would let whoever holds the mailbox skip the second factor.
//! - **Any password reset**, claimed or not, revokes every session, every access token
//!   issued before and every user API key.
//! - **A verification link** redeemed without a session of the account (the official SDK
//!   never sends one) cannot tell the account's creator from a victim clicking an
//!   unsolicited link: on an unclaimed account it revokes sessions, API keys and other
//!   unverified channels, and leaves the password and the claim to the owner's first entry
//!   (revoking the password here would delete every legitimate user's password at
//!   verification). A verification never claims.

use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::Repos;

/// How the owner proved the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// A password reset through a link sent to the address (the reset sets the password).
    Reset,
    /// An OTP / magic-link sign-in with a code sent to the address.
    Otp,
    /// An OAuth sign-in whose provider vouches for the address (linked by address).
    OAuth,
}

impl Proof {
    fn as_str(self) -> &'static str {
        match self {
            Proof::Reset => "password_reset",
            Proof::Otp => "otp",
            Proof::OAuth => "oauth",
        }
    }
}

/// What a revocation removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Revoked {
    pub(crate) sessions: u64,
    pub(crate) api_keys: u64,
    pub(crate) channels: u64,
    pub(crate) password: bool,
}

impl Revoked {
    fn to_json(self) -> serde_json::Value {
        json!({
            "sessions": self.sessions,
            "api_keys": self.api_keys,
            "contact_channels": self.channels,
            "password": self.password,
        })
    }
}

/// Revokes the user's sessions and API keys through `repos`, with their audit events.
pub(crate) async fn revoke_sessions_and_keys(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    user_id: Uuid,
    reason: &str,
) -> Result<Revoked> {
    let now = p.inner.clock.now_millis();
    let sessions = repos
        .sessions()
        .delete_for_user(project_id, user_id, None)
        .await?;
    let api_keys = repos
        .api_keys()
        .revoke_for_user(project_id, user_id, now)
        .await?;
    if sessions > 0 {
        crate::audit::record(
            p,
            repos,
            project_id,
            "session.revoked",
            Some(user_id),
            json!({ "count": sessions, "reason": reason }),
        )
        .await?;
    }
    if api_keys > 0 {
        crate::audit::record(
            p,
            repos,
            project_id,
            "api_key.revoked",
            Some(user_id),
            json!({ "count": api_keys, "reason": reason }),
        )
        .await?;
    }
    Ok(Revoked {
        sessions,
        api_keys,
        ..Revoked::default()
    })
}

/// Deletes the user's unverified channels other than `keep`; with `unconfirm`, the verified
/// ones stop signing in too (they stay as addresses, so nothing the owner verified is lost).
async fn drop_other_channels(
    repos: &dyn Repos,
    project_id: &str,
    user_id: Uuid,
    keep: Uuid,
    unconfirm: bool,
) -> Result<u64> {
    let mut n = 0;
    for mut c in repos.users().list_channels(project_id, user_id).await? {
        if c.id == keep {
            continue;
        }
        if !c.is_verified {
            if repos.users().delete_channel(project_id, c.id).await? {
                n += 1;
            }
        } else if unconfirm && c.auth_confirmed {
            c.auth_confirmed = false;
            repos.users().update_channel(&c).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Claims the account through `repos` if it is not claimed yet (see the module docs);
/// `channel` is the proven address. Returns whether this was the claim.
pub(crate) async fn claim(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    user_id: Uuid,
    channel: Uuid,
    proof: Proof,
) -> Result<bool> {
    let mut rec = repos
        .users()
        .get(&project.id, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    if rec.claimed_at_millis.is_some() {
        return Ok(false);
    }
    let mut revoked =
        revoke_sessions_and_keys(p, repos, &project.id, user_id, "account_claimed").await?;
    revoked.channels = drop_other_channels(repos, &project.id, user_id, channel, true).await?;
    if matches!(proof, Proof::Otp | Proof::OAuth) && rec.password_hash.is_some() {
        rec.password_hash = None;
        revoked.password = true;
    }
    let now = p.inner.clock.now_millis();
    rec.claimed_at_millis = Some(now);
    rec.tokens_valid_after_millis = Some(now);
    let upgraded = rec.is_anonymous;
    if upgraded {
        // An anonymous account that was given a sign-in address: its owner has now entered
        // through it, so it is an account like any other.
        rec.is_anonymous = false;
        rec.signed_up_at_millis = now;
    }
    repos.users().update(&rec).await?;
    if upgraded {
        let address = repos
            .users()
            .get_channel(&project.id, channel)
            .await?
            .map(|c| c.value);
        crate::teams::rename_personal_teams(repos, &rec, address.as_deref()).await?;
    }
    crate::audit::record(
        p,
        repos,
        &project.id,
        "account.claimed",
        Some(user_id),
        json!({ "proof": proof.as_str(), "contact_channel_id": channel, "revoked": revoked.to_json() }),
    )
    .await?;
    Ok(true)
}

/// A verification link redeemed without a session of the account: on an unclaimed account,
/// revokes sessions, API keys and other unverified channels (see the module docs).
pub(crate) async fn verified_outside_session(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    user_id: Uuid,
    channel: Uuid,
) -> Result<()> {
    let Some(rec) = repos.users().get(&project.id, user_id).await? else {
        return Ok(());
    };
    if rec.claimed_at_millis.is_some() {
        return Ok(());
    }
    let mut revoked =
        revoke_sessions_and_keys(p, repos, &project.id, user_id, "address_verified").await?;
    revoked.channels = drop_other_channels(repos, &project.id, user_id, channel, false).await?;
    if revoked != Revoked::default() {
        crate::audit::record(
            p,
            repos,
            &project.id,
            "account.verified_unclaimed",
            Some(user_id),
            json!({ "contact_channel_id": channel, "revoked": revoked.to_json() }),
        )
        .await?;
    }
    Ok(())
}

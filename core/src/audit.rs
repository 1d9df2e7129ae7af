//! The audit log (a Postern extension): security events appended to
//! `postern_audit_events` in the transaction of the change they describe, so a rolled-back
//! change leaves no event and a committed one always has its event.
//!
//! Each event names who acted and from where. The REST layer runs every request inside
//! [`RequestMeta::scope`], so events written while answering it carry the access type, the
//! signed-in user and the client IP; app code calling the services directly may do the same.
//!
//! Event types (`details` in parentheses):
//!
//! | type | when |
//! |---|---|
//! | `sign_up` (`method`) | an account is created |
//! | `sign_in.succeeded` (`method`) | a session is created by a sign-in |
//! | `sign_in.failed` (`method`, `reason`) | a wrong password, TOTP or recovery code; a passkey assertion that does not verify (`invalid_assertion`) or whose counter did not move forward (`possible_clone`, with `passkey_id`) |
//! | `account.locked` (`factor`, `failures`, `lock_seconds`) | a factor reaches `maxFailures` |
//! | `account.claimed` (`proof`, `revoked`) | the owner of the sign-in address first entered the account |
//! | `account.verified_unclaimed` (`revoked`) | an address of an unclaimed account was verified outside its sessions |
//! | `password.changed` (`how`) | set, update, reset, or by a server |
//! | `email.changed` (`from`, `to`) | the primary email changed |
//! | `contact_channel.auth_confirmed` (`contact_channel_id`, `how`) | an address became usable for sign-in |
//! | `contact_channel.deleted` (`contact_channel_id`, `value`) | an address was removed |
//! | `mfa.enabled`, `mfa.changed`, `mfa.disabled` (`proven`) | TOTP turned on, its secret replaced, or turned off |
//! | `mfa.recovery_codes_generated`, `mfa.recovery_code_used` | recovery codes |
//! | `step_up.succeeded`, `step_up.failed` (`method`) | a step-up proof |
//! | `api_key.created`, `api_key.revoked` (`api_key_id`, `reason`) | user and team API keys |
//! | `session.revoked` (`session_id` or `count`, `reason`) | sign-out, deletion, password change, claim |
//! | `passkey.registered` (`passkey_id`, `replaced`) | a passkey was registered (`replaced`: how many of the user's it replaced) |
//! | `passkey.deleted` (`passkey_id`) | the user deleted a passkey |
//! | `config.changed` (`keys`) | an admin changed the project config |
//! | `project_keys.created`, `project_keys.revoked` (`key_set_id`) | project key sets |

use std::cell::RefCell;
use std::net::IpAddr;

use serde_json::Value;
use uuid::Uuid;

use crate::error::{AccessType, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{AuditEventRecord, AuditQuery, Repos};

/// Who makes the current request, and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The client's IP address, when known.
    pub ip: Option<IpAddr>,
    /// The access type of the request, once authenticated.
    pub access_type: Option<AccessType>,
    /// The signed-in user of the request, if any.
    pub user_id: Option<Uuid>,
    /// The client's country (ISO 3166-1 alpha-2, upper case), from a trusted proxy's
    /// `CF-IPCountry` or `X-Vercel-IP-Country` header; the `countryCode` of sign-up rules.
    pub country_code: Option<String>,
}

tokio::task_local! {
    static REQUEST: RefCell<RequestMeta>;
}

impl RequestMeta {
    /// Runs `fut` with this metadata: audit events it writes carry it.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        REQUEST.scope(RefCell::new(self), fut).await
    }

    /// The metadata of the current request (empty outside [`RequestMeta::scope`]).
    pub fn current() -> RequestMeta {
        REQUEST.try_with(|m| m.borrow().clone()).unwrap_or_default()
    }

    /// Updates the current request's metadata (no-op outside [`RequestMeta::scope`]).
    pub fn update(f: impl FnOnce(&mut RequestMeta)) {
        let _ = REQUEST.try_with(|m| f(&mut m.borrow_mut()));
    }

    fn actor(&self) -> String {
        match (self.access_type, self.user_id) {
            (Some(AccessType::Admin), _) => "admin".into(),
            (Some(AccessType::Server), _) => "server".into(),
            (Some(AccessType::Client), Some(u)) => format!("user:{u}"),
            (Some(AccessType::Client), None) => "anonymous".into(),
            (None, _) => "system".into(),
        }
    }
}

/// Appends an event through `repos` (inside the change's transaction).
pub(crate) async fn record(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    event_type: &str,
    user_id: Option<Uuid>,
    details: Value,
) -> Result<()> {
    let meta = RequestMeta::current();
    repos
        .audit()
        .insert(&AuditEventRecord {
            project_id: project_id.to_owned(),
            id: Uuid::now_v7(),
            at_millis: p.inner.clock.now_millis(),
            event_type: event_type.to_owned(),
            user_id,
            actor: meta.actor(),
            ip: meta.ip.map(|ip| ip.to_string()),
            details,
        })
        .await?;
    Ok(())
}

/// The most events one page returns.
pub const MAX_PAGE: u64 = 1_000;

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The events.
    pub items: Vec<AuditEventRecord>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_cursor: Option<Uuid>,
}

/// Reading the audit log; from [`Postern::audit`].
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    p: &'a Postern,
}

impl Postern {
    /// The audit log.
    pub fn audit(&self) -> Audit<'_> {
        Audit { p: self }
    }
}

impl Audit<'_> {
    /// A page of the project's events matching `query` (its `limit` is capped at
    /// [`MAX_PAGE`]; 0 means 100).
    pub async fn list(&self, project: &Project, query: &AuditQuery) -> Result<AuditPage> {
        let limit = match query.limit {
            0 => 100,
            n => n.min(MAX_PAGE),
        };
        let mut q = query.clone();
        q.limit = limit + 1;
        let mut items = self.p.inner.store.audit().list(&project.id, &q).await?;
        let next_cursor = if items.len() as u64 > limit {
            items.truncate(limit as usize);
            items.last().map(|e| e.id)
        } else {
            None
        };
        Ok(AuditPage { items, next_cursor })
    }
}

//! OTP / magic-link sign-in (§9.3 of the contract): a code mailed as a link and as a
//! six-character one-time password; `OTP + nonce` (or the link's full code) signs in,
//! creating the account when the address is new.

use serde_json::json;
use uuid::Uuid;

use crate::codes::{self, DEFAULT_LIFETIME_MILLIS, NONCE_LENGTH};
use crate::email::{self, link_with_code, normalize_email};
use crate::error::{Error, Refusal, Result};
pub use crate::model::OtpSignIn;
use crate::model::User;
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{ChannelKind, CodePurpose, ContactChannelRecord, UserRecord};

/// OTP operations; from [`Postern::otp`].
#[derive(Debug, Clone, Copy)]
pub struct Otp<'a> {
    p: &'a Postern,
}

impl Postern {
    /// OTP / magic-link sign-in.
    pub fn otp(&self) -> Otp<'_> {
        Otp { p: self }
    }
}

fn unverified_exists(email: &str) -> Error {
    Error::UserEmailAlreadyExists {
        email: email.to_owned(),
        would_work_if_email_was_verified: true,
    }
}

impl Otp<'_> {
    /// Mails a sign-in code to `email`; returns the nonce the client completes the OTP with.
    ///
    /// `anonymous`: the anonymous user asking, if any. Only that user can be upgraded by the
    /// code (see [`Otp::sign_in`]), so a link requested elsewhere cannot take over the
    /// anonymous account of whoever opens it.
    pub async fn send_sign_in_code(
        &self,
        project: &Project,
        email: &str,
        callback_url: &str,
        anonymous: Option<Uuid>,
    ) -> Result<String> {
        let cfg = &project.config;
        if !cfg.auth.otp.allow_sign_in {
            return Err(Error::Refused(Refusal::OtpSignInNotEnabled));
        }
        let email = normalize_email(email);
        let store = &self.p.inner.store;
        let existing = store
            .users()
            .find_auth_channel(&project.id, ChannelKind::Email, &email)
            .await?;
        match &existing {
            // An address not verified, or not confirmed for sign-in by the account's
            // owner, does not receive sign-in codes.
            Some(c) if !c.is_verified || !c.auth_confirmed => {
                return Err(unverified_exists(&email));
            }
            None => crate::auth::gate::sign_up_enabled(project)?,
            _ => {}
        }
        if !self.p.redirect_allowed(project, callback_url) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let (code, record) = codes::new_code(
            &project.id,
            CodePurpose::OneTimePassword,
            None,
            json!({
                "email": email,
                "anonymous_user_id": anonymous,
                // Where the sign-in was asked from: a new account's country (as Stack).
                "country_code": crate::audit::RequestMeta::current().country_code,
            }),
            self.p.inner.clock.now_millis(),
            DEFAULT_LIFETIME_MILLIS,
        );
        let link = link_with_code(callback_url, &code).ok_or(Error::RedirectUrlNotWhitelisted)?;
        let otp = code[..code.len() - NONCE_LENGTH].to_uppercase();
        let tx = store.begin().await?;
        self.p
            .throttle()
            .mail(&*tx, project, &email, crate::throttle::MailKind::SignInCode)
            .await?;
        if let Some(c) = &existing
            && let Some(mut user) = tx.users().get(&project.id, c.user_id).await?
            && !user.otp_auth_enabled
        {
            // A verified address signs in by OTP from now on.
            user.otp_auth_enabled = true;
            tx.users().update(&user).await?;
        }
        tx.codes().insert(&record).await?;
        let mail = email::magic_link(&project.display_name, &email, &link, &otp);
        email::enqueue(self.p, &*tx, &project.id, &mail).await?;
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(code[code.len() - NONCE_LENGTH..].to_owned())
    }

    /// Checks a sign-in code without using it.
    pub async fn check_code(&self, project: &Project, code: &str) -> Result<()> {
        codes::check(self.p, project, CodePurpose::OneTimePassword, code)
            .await
            .map(drop)
    }

    /// Signs in with a code: the account of the address, or a new one (primary email
    /// verified and used for sign-in, OTP enabled). The code's use, the account and the
    /// session are one transaction.
    ///
    /// `anonymous`: the anonymous user making the request, upgraded in place when the
    /// address is new and the code was requested by that same anonymous user.
    pub async fn sign_in(
        &self,
        project: &Project,
        code: &str,
        anonymous: Option<Uuid>,
    ) -> Result<OtpSignIn> {
        let record = codes::check(self.p, project, CodePurpose::OneTimePassword, code).await?;
        let email = record.data["email"]
            .as_str()
            .ok_or(Error::VerificationCodeNotFound)?
            .to_owned();
        let cfg = &project.config;
        // A new address creates an account: the sign-up rules run first, outside the
        // transaction, so their triggers stay recorded whatever happens next.
        let verdict = if crate::auth::gate::has_rules(project)
            && cfg.auth.allow_sign_up
            && cfg.auth.otp.allow_sign_in
            && self
                .p
                .inner
                .store
                .users()
                .find_auth_channel(&project.id, ChannelKind::Email, &email)
                .await?
                .is_none()
        {
            crate::auth::gate::check(
                self.p,
                project,
                crate::auth::gate::Applicant {
                    email: Some(&email),
                    method: crate::sign_up_rules::AuthMethod::Otp,
                    oauth_provider: None,
                },
            )
            .await?
        } else {
            crate::auth::gate::Verdict::default()
        };
        let now = self.p.inner.clock.now_millis();
        let tx = self.p.inner.store.begin().await?;
        codes::consume(self.p, &*tx, &record).await?;
        let existing = tx
            .users()
            .find_auth_channel(&project.id, ChannelKind::Email, &email)
            .await?;
        let (rec, channels, is_new_user) = match existing {
            Some(c) if !c.is_verified || !c.auth_confirmed => {
                return Err(unverified_exists(&email));
            }
            Some(c) => {
                let (mut rec, _) = crate::model::load(&*tx, &project.id, c.user_id)
                    .await?
                    .ok_or(Error::UserNotFound)?;
                if !rec.otp_auth_enabled {
                    rec.otp_auth_enabled = true;
                    tx.users().update(&rec).await?;
                }
                if rec.totp_secret.is_some() {
                    // The code is used up reaching the second factor, as Stack; the claim
                    // (if this is the owner's first entry) waits for the second factor.
                    tx.commit().await?;
                    return Err(crate::auth::second_factor_required(
                        self.p,
                        project,
                        &rec,
                        Some(c.id),
                    )
                    .await);
                }
                crate::claim::claim(
                    self.p,
                    &*tx,
                    project,
                    rec.id,
                    c.id,
                    crate::claim::Proof::Otp,
                )
                .await?;
                let (rec, channels) = crate::model::load(&*tx, &project.id, c.user_id)
                    .await?
                    .ok_or(Error::UserNotFound)?;
                (rec, channels, false)
            }
            None => {
                crate::auth::gate::sign_up_enabled(project)?;
                if !cfg.auth.otp.allow_sign_in {
                    return Err(Error::Refused(Refusal::OtpAuthNotEnabled));
                }
                let requested_by: Option<Uuid> = record.data["anonymous_user_id"]
                    .as_str()
                    .and_then(|s| s.parse().ok());
                let upgrading = match anonymous.filter(|id| Some(*id) == requested_by) {
                    Some(id) => tx
                        .users()
                        .get(&project.id, id)
                        .await?
                        .filter(|r| r.is_anonymous),
                    None => None,
                };
                let mut rec = upgrading
                    .clone()
                    .unwrap_or_else(|| UserRecord::new(&project.id, now));
                rec.otp_auth_enabled = true;
                verdict.apply(&mut rec);
                // The code proved the address: the account is its owner's from the start.
                rec.claimed_at_millis = Some(now);
                let channel = ContactChannelRecord {
                    project_id: project.id.clone(),
                    id: Uuid::now_v7(),
                    user_id: rec.id,
                    kind: ChannelKind::Email,
                    value: email.clone(),
                    is_primary: true,
                    is_verified: true,
                    used_for_auth: true,
                    auth_confirmed: true,
                    created_at_millis: now,
                };
                let rec = crate::auth::account::create(
                    self.p,
                    &*tx,
                    project,
                    crate::auth::account::NewAccount {
                        rec,
                        upgrading: upgrading.is_some(),
                        channel: Some(channel.clone()),
                        country_code: record.data["country_code"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| crate::audit::RequestMeta::current().country_code),
                    },
                    "otp",
                    || unverified_exists(&email),
                )
                .await?;
                (rec, vec![channel], true)
            }
        };
        let opened = crate::auth::session::open(
            self.p,
            &*tx,
            &project.id,
            rec.id,
            crate::auth::session::Opening::SignIn("otp"),
        )
        .await?;
        tx.commit().await?;
        let mut user = User::from_parts(&rec, &channels, cfg);
        user.last_active_at_millis = now;
        Ok(OtpSignIn {
            signed_in: opened.tokens(self.p, project, &user)?,
            is_new_user,
        })
    }
}

//! The internal (dashboard) API: projects, key sets, config overrides, audit log.

use super::api_keys::only_true;
use super::*;
use crate::admin::ConfigLevel;
use crate::auth::gate::RuleStats;
use crate::rest::input::Id;
use crate::rest::input::{FieldValue, input};
use crate::sign_up_rules::{AuthMethod, RuleContext};

/// A non-negative integer given in a query string (`must be a non-negative integer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NonNegative(pub(crate) i64);

impl FieldValue for Option<NonNegative> {
    fn read(f: &mut Fields, key: &str) -> Self {
        f.opt_str(key).and_then(|v| match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(NonNegative(n)),
            _ => {
                f.fail(key, "must be a non-negative integer");
                None
            }
        })
    }
    fn schema() -> Value {
        json!({ "type": "integer", "minimum": 0 })
    }
}

input! {
    /// `GET /internal/audit-log`: `user_id`, `type` (comma-separated), `since_millis`,
    /// `until_millis`, `limit` (at most 1,000; default 100), `cursor`.
    pub(crate) struct AuditLogQuery in Query {
        user_id: Option<Id>,
        cursor: Option<Id>,
        kind as "type": Option<String>,
        since_millis: Option<NonNegative>,
        until_millis: Option<NonNegative>,
        limit: Option<NonNegative>,
    }
}

/// `GET /internal/audit-log` (admin): the project's audit events, newest first.
pub(crate) async fn audit_log(rq: Rq<'_>, a: AuditLogQuery) -> Result<Json<AuditLogPageView>> {
    let auth = rq.auth()?;
    let q = AuditQuery {
        user_id: a.user_id.map(|u| u.0),
        before: a.cursor.map(|u| u.0),
        event_types: a
            .kind
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        since_millis: a.since_millis.map(|n| n.0),
        until_millis: a.until_millis.map(|n| n.0),
        limit: a.limit.map_or(0, |n| n.0 as u64),
    };
    let page = rq.p.audit().list(&auth.project, &q).await?;
    Ok(Json::ok(AuditLogPageView::of(&page)))
}

/// The signed-in user of a dashboard call on the internal project. Checked before the
/// request's body or query, whose failures it overrides.
pub(crate) fn internal_user(auth: &Auth) -> Result<Uuid> {
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    if auth.project.id != INTERNAL_PROJECT_ID {
        return Err(Error::ExpectedInternalProject);
    }
    Ok(user.id)
}

/// Field check: `config` is an object or `null`.
pub(crate) fn object_or_null(f: &mut Fields, key: &str, v: &Option<Value>) {
    if let Some(v) = v
        && !(v.is_null() || v.is_object())
    {
        f.fail(key, "must be a `object` type");
    }
}

/// The project patch of a create or patch body (the logo fields and `onboarding_status`
/// are accepted and not kept).
fn project_patch(
    display_name: Option<String>,
    description: Option<Option<String>>,
    is_production_mode: Option<bool>,
    config: Option<Value>,
) -> ProjectPatch {
    ProjectPatch {
        display_name,
        description,
        is_production_mode,
        legacy_config: match config {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        },
    }
}

input! {
    /// `POST /internal/projects`: a new project owned by one of the admin's teams.
    pub(crate) struct NewProject in Body {
        display_name: String,
        owner_team_id: Id,
        description: Option<Option<String>>,
        is_production_mode: Option<bool>,
        config: Option<Value> => object_or_null,
        logo_url: Option<Option<String>>,
        logo_full_url: Option<Option<String>>,
        logo_dark_mode_url: Option<Option<String>>,
        logo_full_dark_mode_url: Option<Option<String>>,
        onboarding_status: Option<Option<String>>,
    }
    check(_this, _f, rq) {
        internal_user(rq.auth()?)?;
    }
}

pub(crate) async fn create_project(rq: Rq<'_>, b: NewProject) -> Result<Json<AdminProjectView>> {
    let user = internal_user(rq.auth()?)?;
    let patch = project_patch(
        Some(b.display_name),
        b.description,
        b.is_production_mode,
        b.config,
    );
    let project =
        rq.p.admin()
            .create_project(user, b.owner_team_id.0, patch)
            .await?;
    Ok(Json::created(AdminProjectView::of(&project)))
}

input! {
    /// `GET /internal/projects`: no query keys.
    pub(crate) struct OwnedProjectsQuery in Query {}
    check(_this, _f, rq) {
        internal_user(rq.auth()?)?;
    }
}

pub(crate) async fn list_projects(
    rq: Rq<'_>,
    _: OwnedProjectsQuery,
) -> Result<Json<ListView<AdminProjectView>>> {
    let user = internal_user(rq.auth()?)?;
    let items =
        rq.p.admin()
            .owned_projects(user)
            .await?
            .iter()
            .map(AdminProjectView::of)
            .collect();
    Ok(Json::ok(ListView::of(items)))
}

pub(crate) async fn current_project(rq: Rq<'_>, _: NoQuery) -> Result<Json<AdminProjectView>> {
    let auth = rq.auth()?;
    Ok(Json::ok(AdminProjectView::of(&auth.project)))
}

input! {
    /// `PATCH /internal/projects/current`.
    pub(crate) struct PatchProject in Body {
        display_name: Option<String>,
        description: Option<Option<String>>,
        is_production_mode: Option<bool>,
        config: Option<Value> => object_or_null,
        logo_url: Option<Option<String>>,
        logo_full_url: Option<Option<String>>,
        logo_dark_mode_url: Option<Option<String>>,
        logo_full_dark_mode_url: Option<Option<String>>,
        onboarding_status: Option<Option<String>>,
    }
}

pub(crate) async fn patch_current_project(
    rq: Rq<'_>,
    b: PatchProject,
) -> Result<Json<AdminProjectView>> {
    let auth = rq.auth()?;
    let patch = project_patch(
        b.display_name,
        b.description,
        b.is_production_mode,
        b.config,
    );
    let project = rq.p.admin().update_project(&auth.project, patch).await?;
    Ok(Json::ok(AdminProjectView::of(&project)))
}

/// A boolean that must be given: absent is `must be defined`; `null` or another type fails
/// as [`Option<bool>`] does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequiredBool(pub(crate) bool);

impl FieldValue for RequiredBool {
    const REQUIRED: bool = true;
    fn read(f: &mut Fields, key: &str) -> Self {
        let v = f.opt_bool(key);
        if v.is_none() && f.opt_str_raw(key).is_none() {
            f.fail(key, "must be defined");
        }
        RequiredBool(v.unwrap_or(false))
    }
    fn schema() -> Value {
        json!({ "type": "boolean" })
    }
}

input! {
    /// `POST /internal/api-keys`: a new key set, saying which of the three keys it holds.
    pub(crate) struct NewKeySet in Body {
        description: String,
        expires_at_millis: Option<f64>,
        has_publishable_client_key: RequiredBool,
        has_secret_server_key: RequiredBool,
        has_super_secret_admin_key: RequiredBool,
    }
}

pub(crate) async fn create_key_set(rq: Rq<'_>, b: NewKeySet) -> Result<Json<KeySetView>> {
    let auth = rq.auth()?;
    let kinds = (
        b.has_publishable_client_key.0,
        b.has_secret_server_key.0,
        b.has_super_secret_admin_key.0,
    );
    let set =
        rq.p.admin()
            .create_key_set(
                &auth.project,
                &b.description,
                b.expires_at_millis.map(|e| e as i64),
                kinds,
            )
            .await?;
    Ok(Json::ok(KeySetView::created(&set)))
}

pub(crate) async fn list_key_sets(rq: Rq<'_>, _: NoQuery) -> Result<Json<ListView<KeySetView>>> {
    let auth = rq.auth()?;
    let items =
        rq.p.admin()
            .key_sets(&auth.project)
            .await?
            .iter()
            .map(KeySetView::of)
            .collect();
    Ok(Json::ok(ListView::of(items)))
}

pub(crate) fn key_set_id(rq: &Rq<'_>) -> Result<Uuid> {
    Uuid::parse_str(rq.param("api_key_id")).map_err(|_| Error::ApiKeyNotFound)
}

pub(crate) async fn get_key_set(rq: Rq<'_>) -> Result<Json<KeySetView>> {
    let auth = rq.auth()?;
    let id = key_set_id(&rq)?;
    let set =
        rq.p.admin()
            .key_sets(&auth.project)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(Error::ApiKeyNotFound)?;
    Ok(Json::ok(KeySetView::of(&set)))
}

input! {
    /// `PATCH /internal/api-keys/{api_key_id}`: a new description, or `revoked: true`.
    pub(crate) struct KeySetPatch in Body {
        description: Option<String>,
        revoked: Option<bool> => only_true,
    }
}

pub(crate) async fn patch_key_set(rq: Rq<'_>, b: KeySetPatch) -> Result<Json<KeySetView>> {
    let auth = rq.auth()?;
    let id = key_set_id(&rq)?;
    let set =
        rq.p.admin()
            .update_key_set(&auth.project, id, b.description, b.revoked == Some(true))
            .await?;
    Ok(Json::ok(KeySetView::of(&set)))
}

pub(crate) async fn get_config(rq: Rq<'_>, _: NoQuery) -> Result<Json<ConfigStringView>> {
    let auth = rq.auth()?;
    Ok(Json::ok(ConfigStringView::of(&auth.project)))
}

pub(crate) fn level(rq: &Rq<'_>) -> Result<ConfigLevel> {
    ConfigLevel::parse(rq.param("level")).ok_or_else(|| {
        Error::schema(
            "params.level must be one of the following values: project, branch, environment",
        )
    })
}

pub(crate) async fn get_override(rq: Rq<'_>) -> Result<Json<ConfigStringView>> {
    let auth = rq.auth()?;
    level(&rq)?;
    Ok(Json::ok(ConfigStringView::of(&auth.project)))
}

/// The level of `PATCH /internal/config/override/{level}`, if this caller may change it
/// ([`Admin::authorize_override`](crate::admin::Admin::authorize_override)). Checked before
/// the body, whose failures it overrides.
pub(crate) fn override_level(rq: &Rq<'_>) -> Result<ConfigLevel> {
    let level = level(rq)?;
    rq.p.admin().authorize_override(rq.auth()?, level)?;
    Ok(level)
}

input! {
    /// `PATCH /internal/config/override/{level}`: the override as JSON text.
    pub(crate) struct ConfigOverride in Body {
        config_override_string: String,
    }
    check(_this, _f, rq) {
        override_level(rq)?;
    }
}

/// The level and the caller's right to change it are checked with the body
/// ([`ConfigOverride`]), before its fields fail.
pub(crate) async fn patch_override(rq: Rq<'_>, b: ConfigOverride) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let over: Map<String, Value> = match serde_json::from_str(&b.config_override_string) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Error::Refused(Refusal::InvalidConfigJson)),
    };
    rq.p.admin()
        .override_config_as(auth, override_level(&rq)?, &over)
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

/// Field check: one of `password`, `otp`, `oauth`, `passkey`.
fn auth_method_name(f: &mut Fields, key: &str, v: &impl Text) {
    if v.text().is_some_and(|m| AuthMethod::from_name(m).is_none()) {
        f.fail(
            key,
            "must be one of the following values: password, otp, oauth, passkey",
        );
    }
}

/// Field check: `ok`, `invalid` or `error`.
fn turnstile(f: &mut Fields, key: &str, v: &Option<String>) {
    if let Some(t) = v
        && !matches!(t.as_str(), "ok" | "invalid" | "error")
    {
        f.fail(
            key,
            "must be one of the following values: ok, invalid, error",
        );
    }
}

/// The risk score `name` of a `risk_scores` object, if it is an integer from 0 to 100.
fn score(v: &Value, name: &str) -> Option<i64> {
    v.get(name)
        .and_then(Value::as_i64)
        .filter(|n| (0..=100).contains(n))
}

/// Field check: `{bot, free_trial_abuse}`, integers from 0 to 100.
fn risk_scores(f: &mut Fields, key: &str, v: &Option<Value>) {
    if let Some(v) = v
        && (score(v, "bot").is_none()
            || score(v, "free_trial_abuse").is_none()
            || v.as_object().is_some_and(|o| o.len() != 2))
    {
        f.fail(
            key,
            "must be {bot, free_trial_abuse} with integers from 0 to 100",
        );
    }
}

input! {
    /// `POST /internal/sign-up-rules-test`: a sign-up to evaluate the rules against.
    pub(crate) struct RulesTest in Body {
        email: Option<Option<String>>,
        auth_method: String => auth_method_name,
        oauth_provider: Option<Option<String>>,
        country_code: Option<Option<String>> => country_code,
        turnstile_result: Option<String> => turnstile,
        risk_scores: Option<Value> => risk_scores,
    }
}

/// `POST /internal/sign-up-rules-test` (admin): evaluates the project's sign-up rules for
/// the given context as a sign-up would, recording nothing. A `null` country is the admin
/// request's own (from a trusted proxy), as upstream; risk scores default to 0 (Postern has
/// no risk engine).
pub(crate) async fn sign_up_rules_test(
    rq: Rq<'_>,
    b: RulesTest,
) -> Result<Json<SignUpRulesTestView>> {
    let auth = rq.auth()?;
    let method = AuthMethod::from_name(&b.auth_method).unwrap_or(AuthMethod::Password);
    let country = match b.country_code.flatten() {
        Some(c) => Some(c),
        None => crate::audit::RequestMeta::current().country_code,
    };
    let (bot, abuse) = b
        .risk_scores
        .as_ref()
        .map(|v| {
            (
                score(v, "bot").unwrap_or(0),
                score(v, "free_trial_abuse").unwrap_or(0),
            )
        })
        .unwrap_or((0, 0));
    let ctx = RuleContext::new(
        b.email.flatten().as_deref(),
        country.as_deref(),
        method,
        b.oauth_provider.flatten().as_deref(),
    )
    .with_risk_scores(bot, abuse);
    let e = rq.p.sign_up_rules().evaluate(&auth.project, &ctx);
    Ok(Json::ok(SignUpRulesTestView {
        context: RuleContextView {
            email: ctx.email.clone(),
            email_domain: ctx.email_domain.clone(),
            country_code: ctx.country_code.clone(),
            auth_method: ctx.auth_method.as_str().to_owned(),
            oauth_provider: ctx.oauth_provider.clone(),
            turnstile_result: b.turnstile_result.unwrap_or_else(|| "invalid".into()),
            risk_scores: SignUpRiskScores {
                bot: bot as i32,
                free_trial_abuse: abuse as i32,
            },
        },
        evaluations: e.evaluations,
        outcome: e.outcome,
    }))
}

/// `GET /internal/sign-up-rules-stats` (admin): trigger counts of the project's rules.
pub(crate) async fn sign_up_rules_stats(rq: Rq<'_>, _: NoQuery) -> Result<Json<RuleStats>> {
    let auth = rq.auth()?;
    Ok(Json::ok(rq.p.sign_up_rules().stats(&auth.project).await?))
}

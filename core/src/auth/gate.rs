//! The sign-up gate shared by every path that creates an account from a sign-in method
//! (password sign-up, OTP / magic link for a new address, an anonymous user upgrading
//! through either, and later OAuth): the project's sign-up rules (contract §4 of
//! rest-org.md), evaluated once per sign-up with rules compiled once per config and cached.
//!
//! Anonymous sign-up and server-side `POST /users` do not pass through it, as upstream.
//!
//! Every matched rule is recorded as a `sign_up_rule.triggered` audit event carrying the
//! email *domain* (never the address), the sign-in method and the OAuth provider. It is
//! written on its own, before the sign-up's transaction, so it stays recorded when the
//! sign-up then fails (an address already taken), and a failure to record it is logged and
//! never fails the sign-up. [`SignUpRules::stats`] reads those events back.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::RequestMeta;
use crate::error::{Error, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::sign_up_rules::{
    AuthMethod, DefaultAction, Evaluation, RuleContext, restriction_details,
};
use crate::storage::{AuditQuery, UserRecord};

/// The audit event type of a matched sign-up rule.
pub const RULE_TRIGGER_EVENT: &str = "sign_up_rule.triggered";

/// Hours of history in [`RuleStats`].
pub const STATS_HOURS: usize = 48;

/// Who is signing up, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applicant<'a> {
    /// The address the account is created with (`None`: e.g. OAuth without email).
    pub email: Option<&'a str>,
    /// The sign-in method.
    pub method: AuthMethod,
    /// The OAuth provider id, for OAuth.
    pub oauth_provider: Option<&'a str>,
}

/// What the rules decided for an allowed sign-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `restricted_by_admin_private_details` when a `restrict` rule matched.
    restriction: Option<String>,
}

impl Verdict {
    /// Marks the new (or upgraded) user as restricted by the first matching `restrict`
    /// rule; on an upgrade, the text is appended to earlier private details after a blank
    /// line. The public reason is left alone: rules never set it.
    pub(crate) fn apply(&self, rec: &mut UserRecord) {
        let Some(details) = &self.restriction else {
            return;
        };
        rec.restricted_by_admin = true;
        rec.restricted_by_admin_private_details =
            Some(match rec.restricted_by_admin_private_details.as_deref() {
                Some(old) if !old.is_empty() => format!("{old}\n\n{details}"),
                _ => details.clone(),
            });
    }
}

/// The first sign-up gate: whether the project lets new accounts be created from a
/// sign-in method (`auth.allowSignUp`; `SIGN_UP_NOT_ENABLED` otherwise). Server-side
/// creation does not pass it. The gates run in spec order: this one, then (after the
/// method's own checks, such as the password rules) [`check`], then the address's
/// uniqueness when the account is written.
pub(crate) fn sign_up_enabled(project: &Project) -> Result<()> {
    if project.config.auth.allow_sign_up {
        Ok(())
    } else {
        Err(Error::SignUpNotEnabled)
    }
}

/// Whether the project has sign-up rules to run (any rule, or a default that rejects); a
/// path may skip the work of building [`Applicant`] when it has none.
pub(crate) fn has_rules(project: &Project) -> bool {
    let auth = &project.config.auth;
    !auth.sign_up_rules.is_empty() || auth.sign_up_rules_default_action != DefaultAction::Allow
}

/// Runs the project's sign-up rules for `who`: `SIGN_UP_REJECTED` when they (or the default
/// action) reject, else the verdict to apply to the user. Matches are recorded first.
pub(crate) async fn check(p: &Postern, project: &Project, who: Applicant<'_>) -> Result<Verdict> {
    if !has_rules(project) {
        return Ok(Verdict::default());
    }
    let auth = &project.config.auth;
    let ctx = RuleContext::new(
        who.email,
        RequestMeta::current().country_code.as_deref(),
        who.method,
        who.oauth_provider,
    );
    let evaluation = p
        .inner
        .sign_up_rules
        .get(
            &project.id,
            &project.config.auth.sign_up_rules,
            project.config.auth.sign_up_rules_default_action,
        )
        .evaluate(&ctx);
    record_triggers(p, project, &ctx, &evaluation).await;
    let outcome = &evaluation.outcome;
    if !outcome.should_allow {
        return Err(Error::SignUpRejected);
    }
    let restriction = outcome.restricted_because_of_rule_id.as_deref().map(|id| {
        let name = auth
            .sign_up_rules
            .get(id)
            .and_then(|r| r.display_name.as_deref());
        restriction_details(id, name)
    });
    Ok(Verdict { restriction })
}

async fn record_triggers(p: &Postern, project: &Project, ctx: &RuleContext, e: &Evaluation) {
    for (rule_id, action) in &e.outcome.matched {
        let details = json!({
            "rule_id": rule_id,
            "action": action.as_str(),
            "email_domain": ctx.email_domain,
            "auth_method": ctx.auth_method.as_str(),
            "oauth_provider": ctx.oauth_provider,
        });
        let written = crate::audit::record(
            p,
            &*p.inner.store,
            &project.id,
            RULE_TRIGGER_EVENT,
            None,
            details,
        )
        .await;
        if let Err(e) = written {
            tracing::warn!(project = %project.id, rule = %rule_id, error = %e, "could not record a sign-up rule trigger");
        }
    }
}

/// Triggers of one rule ([`RuleStats::rule_triggers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuleTriggers {
    /// The rule id.
    pub rule_id: String,
    /// Triggers in the last [`STATS_HOURS`] hours.
    pub total_count: u64,
    /// Triggers ever recorded.
    pub all_time_count: u64,
    /// One bucket per UTC hour, oldest first, the last being the current hour.
    pub hourly_counts: Vec<HourCount>,
}

/// Triggers in one UTC hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HourCount {
    /// The hour's start, ISO 8601 (`2026-04-24T13:00:00.000Z`).
    pub hour: String,
    /// Triggers in that hour.
    pub count: u64,
}

/// Triggers in the window by action ([`RuleStats::triggers_by_action`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ActionCounts {
    /// `allow` rules.
    pub allow: u64,
    /// `reject` rules.
    pub reject: u64,
    /// `restrict` rules.
    pub restrict: u64,
    /// `log` rules.
    pub log: u64,
}

/// `GET /internal/sign-up-rules-stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuleStats {
    /// Per rule with any trigger ever, sorted by rule id.
    pub rule_triggers: Vec<RuleTriggers>,
    /// The window, in hours ([`STATS_HOURS`]).
    pub analytics_hours: u64,
    /// Triggers in the window.
    pub total_triggers: u64,
    /// Triggers in the window by action.
    pub triggers_by_action: ActionCounts,
}

/// Sign-up rules: the tester and the trigger statistics; from [`Postern::sign_up_rules`].
#[derive(Debug, Clone, Copy)]
pub struct SignUpRules<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Sign-up rules: evaluate without side effects, read trigger statistics.
    pub fn sign_up_rules(&self) -> SignUpRules<'_> {
        SignUpRules { p: self }
    }
}

const HOUR_MILLIS: i64 = 3_600_000;

impl SignUpRules<'_> {
    /// Evaluates the project's rules for `ctx` as a sign-up would, with nothing recorded
    /// or changed (the rule tester).
    pub fn evaluate(&self, project: &Project, ctx: &RuleContext) -> Evaluation {
        self.p
            .inner
            .sign_up_rules
            .get(
                &project.id,
                &project.config.auth.sign_up_rules,
                project.config.auth.sign_up_rules_default_action,
            )
            .evaluate(ctx)
    }

    /// Trigger counts of the project's rules: the last [`STATS_HOURS`] UTC hours, by hour
    /// and by action, and all time.
    pub async fn stats(&self, project: &Project) -> Result<RuleStats> {
        let now = self.p.inner.clock.now_millis();
        let current_hour = now - now.rem_euclid(HOUR_MILLIS);
        let window_start = current_hour - (STATS_HOURS as i64 - 1) * HOUR_MILLIS;
        let mut per_rule: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
        let mut by_action = ActionCounts::default();
        let mut total = 0;
        let mut query = AuditQuery {
            event_types: vec![RULE_TRIGGER_EVENT.to_owned()],
            limit: crate::audit::MAX_PAGE,
            ..AuditQuery::default()
        };
        loop {
            let page = self.p.audit().list(project, &query).await?;
            for e in &page.items {
                let Some(rule) = e.details["rule_id"].as_str() else {
                    continue;
                };
                let entry = per_rule
                    .entry(rule.to_owned())
                    .or_insert_with(|| (0, vec![0; STATS_HOURS]));
                entry.0 += 1;
                if e.at_millis >= window_start && e.at_millis < current_hour + HOUR_MILLIS {
                    let bucket = ((e.at_millis - window_start) / HOUR_MILLIS) as usize;
                    entry.1[bucket] += 1;
                    total += 1;
                    match e.details["action"].as_str() {
                        Some("allow") => by_action.allow += 1,
                        Some("reject") => by_action.reject += 1,
                        Some("restrict") => by_action.restrict += 1,
                        Some("log") => by_action.log += 1,
                        _ => {}
                    }
                }
            }
            match page.next_cursor {
                Some(c) => query.before = Some(c),
                None => break,
            }
        }
        let hour_label = |i: usize| iso_hour(window_start + i as i64 * HOUR_MILLIS);
        Ok(RuleStats {
            rule_triggers: per_rule
                .into_iter()
                .map(|(rule_id, (all_time, hours))| RuleTriggers {
                    rule_id,
                    total_count: hours.iter().sum(),
                    all_time_count: all_time,
                    hourly_counts: hours
                        .into_iter()
                        .enumerate()
                        .map(|(i, count)| HourCount {
                            hour: hour_label(i),
                            count,
                        })
                        .collect(),
                })
                .collect(),
            analytics_hours: STATS_HOURS as u64,
            total_triggers: total,
            triggers_by_action: by_action,
        })
    }
}

/// `2026-04-24T13:00:00.000Z` for an hour start in epoch milliseconds.
fn iso_hour(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let hour = millis.rem_euclid(86_400_000) / HOUR_MILLIS;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{hour:02}:00:00.000Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days` algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_utc_iso_strings() {
        assert_eq!(iso_hour(0), "1970-01-01T00:00:00.000Z");
        // 2026-04-24T13:00:00Z
        assert_eq!(iso_hour(1_777_035_600_000), "2026-04-24T13:00:00.000Z");
        assert_eq!(iso_hour(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_restriction_is_appended_on_upgrade() {
        let v = Verdict {
            restriction: Some("Restricted by sign-up rule: r".into()),
        };
        let mut rec = UserRecord::new("p", 0);
        v.apply(&mut rec);
        assert!(rec.restricted_by_admin);
        assert_eq!(
            rec.restricted_by_admin_private_details.as_deref(),
            Some("Restricted by sign-up rule: r")
        );
        v.apply(&mut rec);
        assert_eq!(
            rec.restricted_by_admin_private_details.as_deref(),
            Some("Restricted by sign-up rule: r\n\nRestricted by sign-up rule: r")
        );
        let mut untouched = UserRecord::new("p", 0);
        Verdict::default().apply(&mut untouched);
        assert!(!untouched.restricted_by_admin);
    }
}

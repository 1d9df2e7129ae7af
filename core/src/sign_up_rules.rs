//! Sign-up rules: CEL conditions evaluated against a sign-up attempt, deciding whether it is
//! allowed, rejected, or allowed with a restricted user.
//!
//! Pure: no store, no HTTP. Config lives at `auth.signUpRules.<ruleId>` ([`SignUpRule`]) and
//! `auth.signUpRulesDefaultAction` ([`DefaultAction`]). [`CompiledRules::compile`] sorts the
//! rules and compiles every condition once; cache the result (it is `Send + Sync`) per project
//! config version and call [`CompiledRules::evaluate`] with a [`RuleContext`] per sign-up.
//!
//! # Conditions
//!
//! A condition is a [CEL](https://cel.dev) expression over the variables `email`,
//! `emailDomain`, `countryCode`, `authMethod`, `oauthProvider` (strings) and `riskScores`
//! (a map with the ints `bot` and `free_trial_abuse`). Context values are bound as variables,
//! never spliced into the source, so a user-controlled email cannot inject CEL.
//!
//! Besides the operators, `in`, `size` and `has`, the string methods `contains`,
//! `startsWith`, `endsWith` and `matches` work on any string expression, with single- or
//! double-quoted arguments (upstream accepts only double-quoted literals on a bare variable).
//! `matches` is an unanchored search like JavaScript's `RegExp.test`, with back-references
//! and look-around ([`fancy_regex`]); its syntax is Rust's, which differs from JavaScript's
//! in corners (`\d` is Unicode-aware, for one). A search that exceeds a backtracking budget is
//! an error rather than a hang. Comprehension macros (`all`, `exists`, `map`, ...) are refused:
//! nested over literal lists, they would make evaluation cost explode.
//!
//! A condition that does not compile, fails at run time (unknown variable, bad or too costly
//! regex, overflow, ...) or yields a non-boolean gives the rule the status
//! [`RuleStatus::Error`]: it is treated as not matched and evaluation continues, so an error
//! never fails a sign-up. Use [`check_condition`] to refuse such conditions when they are
//! saved.
//!
//! # Order and outcome
//!
//! Rules run by `priority` descending, then by id compared upper-cased, lowercase first on
//! ties. The first matching `allow` or `reject` rule decides; a matching `restrict` rule is
//! remembered (the first one only) and evaluation goes on, as it does for `log`. Without a
//! deciding rule the default action applies. See [`Outcome`].
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use postern_core::sign_up_rules::{
//!     AuthMethod, CompiledRules, Decision, DefaultAction, RuleContext, SignUpRule,
//! };
//!
//! let rules: BTreeMap<String, SignUpRule> = serde_json::from_value(serde_json::json!({
//!     "block-spam": {
//!         "enabled": true,
//!         "priority": 10,
//!         "condition": "emailDomain in ['spam.example', 'junk.example']",
//!         "action": { "type": "reject", "message": "internal note, never shown" }
//!     },
//!     "watch-bots": {
//!         "enabled": true,
//!         "condition": "riskScores.bot > 80 || email.matches('^[0-9]+@')",
//!         "action": { "type": "restrict" }
//!     }
//! }))
//! .unwrap();
//! let compiled = CompiledRules::compile(&rules, DefaultAction::Allow);
//!
//! let ctx = RuleContext::new(Some(" Bob@SPAM.example "), None, AuthMethod::Password, None);
//! assert_eq!(ctx.email_domain, "spam.example");
//! let evaluation = compiled.evaluate(&ctx);
//! assert!(!evaluation.outcome.should_allow);
//! assert_eq!(evaluation.outcome.decision, Decision::Reject);
//! assert_eq!(evaluation.outcome.decision_rule_id.as_deref(), Some("block-spam"));
//!
//! let ctx = RuleContext::new(Some("1234@mail.example"), Some("de"), AuthMethod::Otp, None);
//! let outcome = compiled.evaluate(&ctx).outcome;
//! assert!(outcome.should_allow);
//! assert_eq!(outcome.decision, Decision::DefaultAllow);
//! assert_eq!(outcome.restricted_because_of_rule_id.as_deref(), Some("watch-bots"));
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock, Mutex};

use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::common::traits::{Container, Indexer, Sizer};
use cel::common::types::{CelInt, CelString, MAP_TYPE, Type};
use cel::common::value::{CowVal, Val};
use cel::extractors::This;
use cel::parser::Macro;
use cel::{Context, Env, ExecutionError, Value};
use fancy_regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// Longest accepted condition, in bytes. Longer conditions are refused (and a rule with one
/// evaluates to [`RuleStatus::Error`]); together with [`MAX_NESTING`] this bounds how deep the
/// CEL parser and interpreter recurse.
pub const MAX_CONDITION_LEN: usize = 1024;

/// Deepest accepted nesting of expressions (brackets, parentheses, ternaries) in a condition.
pub const MAX_NESTING: u16 = 32;

/// Longest accepted `matches` pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 512;

/// Longest string `matches` searches, in bytes; a longer one is an evaluation error.
pub const MAX_MATCH_INPUT_LEN: usize = 4096;

/// Backtracking budget of one `matches` search (fancy-regex steps). Patterns without
/// back-references or look-around run on a linear-time engine and never use it.
pub const REGEX_BACKTRACK_LIMIT: usize = 10_000;

/// Size limit of the compiled automata of one pattern, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiled patterns kept for `matches` calls whose pattern is not a literal.
const REGEX_CACHE_CAPACITY: usize = 256;

/// The function `matches` calls are rewritten to (the stdlib name cannot be re-registered).
const MATCHES_FN: &str = "postern_matches";

/// The variables a condition may use.
const VARIABLES: [&str; 6] = [
    "email",
    "emailDomain",
    "countryCode",
    "authMethod",
    "oauthProvider",
    "riskScores",
];

/// The functions and operators a condition may use.
const FUNCTIONS: [&str; 29] = [
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_&&_",
    "_||_",
    "!_",
    "_?_:_",
    "@in",
    "_+_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "-_",
    "_[_]",
    "size",
    "contains",
    "startsWith",
    "endsWith",
    MATCHES_FN,
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
];

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/// One rule of `auth.signUpRules.<ruleId>`.
///
/// Unknown keys are kept in [`extra`](Self::extra), so a config round-trips.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUpRule {
    /// Whether the rule is evaluated: only when exactly `Some(true)`; absent means disabled.
    ///
    /// Kept as an `Option` because the rule tester reports `enabled` the way upstream does,
    /// as `enabled !== false`: a rule without the key shows `enabled: true` although it is
    /// skipped as disabled. Use [`is_enabled`](Self::is_enabled) to decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Shown in the tester and appended to the restriction details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Higher runs first; must not be negative (see [`validate`](Self::validate)).
    #[serde(default)]
    pub priority: i64,
    /// The CEL condition; missing or empty skips the rule (`missing_condition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// What a match does.
    #[serde(default)]
    pub action: RuleAction,
    /// Keys this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl SignUpRule {
    /// Whether the rule is evaluated (`enabled` is exactly true).
    pub fn is_enabled(&self) -> bool {
        self.enabled == Some(true)
    }

    /// Save-time checks: a non-negative priority and, when set and not empty, a condition
    /// that parses, within the length and nesting caps, using only the known variables and
    /// functions. A literal `matches` pattern that is not a valid regex is *not* refused
    /// here: upstream stores such a rule (its e2e suite checks that the rule then errors and
    /// the sign-up goes through), so it is saved and evaluates with status `error`. Use
    /// [`check_condition`] for the strict check. The error is a human-readable reason.
    pub fn validate(&self) -> Result<(), String> {
        if self.priority < 0 {
            return Err(format!("priority must be 0 or more, got {}", self.priority));
        }
        match self.condition.as_deref() {
            Some(src) if !src.is_empty() => compile_condition(src).map(|_| ()),
            _ => Ok(()),
        }
    }
}

/// `action` of a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleAction {
    /// What a match does (`type` on the wire).
    #[serde(rename = "type", default)]
    pub type_: ActionType,
    /// For `reject`: an internal note, never shown to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The effect of a matching rule.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ActionType {
    /// Allow the sign-up and stop.
    #[default]
    Allow,
    /// Reject the sign-up and stop.
    Reject,
    /// Remember the rule (if no earlier restrict matched) and continue; an allowed sign-up
    /// then creates a restricted user.
    Restrict,
    /// Only log (the trigger event) and continue.
    Log,
}

impl ActionType {
    /// The wire name: `allow`, `reject`, `restrict` or `log`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Allow => "allow",
            ActionType::Reject => "reject",
            ActionType::Restrict => "restrict",
            ActionType::Log => "log",
        }
    }
}

/// `auth.signUpRulesDefaultAction`: the decision when no `allow` or `reject` rule matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    /// Allow (the default).
    #[default]
    Allow,
    /// Reject.
    Reject,
}

/// Whether `id` is a valid rule id: `^[a-zA-Z0-9_][a-zA-Z0-9_-]*$`, at most 63 characters.
pub fn valid_rule_id(id: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match id.as_bytes() {
        [first, rest @ ..] => {
            id.len() <= 63 && ok(*first) && rest.iter().all(|&b| ok(b) || b == b'-')
        }
        [] => false,
    }
}

/// `restricted_by_admin_private_details` for a user restricted by a rule:
/// `Restricted by sign-up rule: <ruleId>`, plus ` (<displayName>)` when the display name is
/// set and not empty.
pub fn restriction_details(rule_id: &str, display_name: Option<&str>) -> String {
    match display_name {
        Some(name) if !name.is_empty() => {
            format!("Restricted by sign-up rule: {rule_id} ({name})")
        }
        _ => format!("Restricted by sign-up rule: {rule_id}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------------------------

/// How the user signs up (`authMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Email and password.
    Password,
    /// One-time code or magic link.
    Otp,
    /// An OAuth provider.
    Oauth,
    /// A passkey.
    Passkey,
}

impl AuthMethod {
    /// The method of a wire name (`password`, `otp`, `oauth`, `passkey`).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            AuthMethod::Password,
            AuthMethod::Otp,
            AuthMethod::Oauth,
            AuthMethod::Passkey,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }

    /// The wire name: `password`, `otp`, `oauth` or `passkey`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Otp => "otp",
            AuthMethod::Oauth => "oauth",
            AuthMethod::Passkey => "passkey",
        }
    }
}

/// The normalised facts about a sign-up attempt that conditions see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleContext {
    /// `email`: trimmed and lowercased, `""` when there is none.
    pub email: String,
    /// `emailDomain`: everything after the last `@` of [`email`](Self::email), else `""`.
    pub email_domain: String,
    /// `countryCode`: trimmed and upper-cased, `""` when unknown.
    pub country_code: String,
    /// `authMethod`.
    pub auth_method: AuthMethod,
    /// `oauthProvider`: the provider id for OAuth, else `""`.
    pub oauth_provider: String,
    /// `riskScores.bot`, 0–100.
    pub risk_bot: i64,
    /// `riskScores.free_trial_abuse`, 0–100.
    pub risk_free_trial_abuse: i64,
}

/// JavaScript's `String.prototype.trim` also strips U+FEFF, which is not `White_Space`.
fn js_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

impl RuleContext {
    /// Builds the context with the normalisation of the spec: the email trimmed and
    /// lowercased (no dot or plus stripping), its domain, the country code trimmed and
    /// upper-cased, `""` for anything absent, and both risk scores 0 (see
    /// [`with_risk_scores`](Self::with_risk_scores)).
    pub fn new(
        email: Option<&str>,
        country_code: Option<&str>,
        auth_method: AuthMethod,
        oauth_provider: Option<&str>,
    ) -> Self {
        let email = email.map(|e| js_trim(e).to_lowercase()).unwrap_or_default();
        let email_domain = email
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_owned())
            .unwrap_or_default();
        RuleContext {
            email,
            email_domain,
            country_code: country_code
                .map(|c| js_trim(c).to_uppercase())
                .unwrap_or_default(),
            auth_method,
            oauth_provider: oauth_provider.unwrap_or_default().to_owned(),
            risk_bot: 0,
            risk_free_trial_abuse: 0,
        }
    }

    /// Sets `riskScores.bot` and `riskScores.free_trial_abuse`.
    pub fn with_risk_scores(mut self, bot: i64, free_trial_abuse: i64) -> Self {
        self.risk_bot = bot;
        self.risk_free_trial_abuse = free_trial_abuse;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation results
// ---------------------------------------------------------------------------------------------

/// How one rule fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    /// The condition was true.
    Matched,
    /// The condition was false.
    NotMatched,
    /// The rule is not enabled; skipped.
    Disabled,
    /// The rule has no (or an empty) condition; skipped.
    MissingCondition,
    /// The condition did not compile, failed, or was not a boolean; treated as not matched.
    Error,
}

/// One entry of [`Evaluation::evaluations`], in the rule tester's wire shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RuleEvaluation {
    /// The rule id.
    pub rule_id: String,
    /// The display name, `""` when none.
    pub display_name: String,
    /// As upstream reports it: `enabled !== false`, so `true` for a rule without the key
    /// even though such a rule is skipped as [`RuleStatus::Disabled`].
    pub enabled: bool,
    /// The condition source, `""` when none.
    pub condition: String,
    /// The result.
    pub status: RuleStatus,
    /// The rule's action.
    pub action: RuleAction,
    /// Why the status is [`RuleStatus::Error`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The overall decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Decision {
    /// An `allow` rule matched.
    #[serde(rename = "allow")]
    Allow,
    /// A `reject` rule matched.
    #[serde(rename = "reject")]
    Reject,
    /// No deciding rule matched; the default action is allow.
    #[serde(rename = "default-allow")]
    DefaultAllow,
    /// No deciding rule matched; the default action is reject.
    #[serde(rename = "default-reject")]
    DefaultReject,
}

/// The result of evaluating all rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// Whether the sign-up goes ahead ([`Decision::Allow`] or [`Decision::DefaultAllow`]).
    pub should_allow: bool,
    /// The decision.
    pub decision: Decision,
    /// The rule that decided, for [`Decision::Allow`] and [`Decision::Reject`].
    pub decision_rule_id: Option<String>,
    /// The first matching `restrict` rule, whatever the decision; with an allowed sign-up the
    /// user is created restricted (see [`restriction_details`]).
    pub restricted_because_of_rule_id: Option<String>,
    /// Every matching rule, of any action, in evaluation order: one `$sign-up-rule-trigger`
    /// event each. Not part of the tester's wire shape.
    #[serde(skip)]
    pub matched: Vec<(String, ActionType)>,
}

/// What [`CompiledRules::evaluate`] returns; serializes as the tester's
/// `{evaluations, outcome}` (the caller adds `context`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    /// One entry per rule in evaluation order, up to and including the deciding rule.
    pub evaluations: Vec<RuleEvaluation>,
    /// The decision.
    pub outcome: Outcome,
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

/// The standard CEL environment, with `matches` routed to [`MATCHES_FN`] by macros: the
/// stdlib name cannot be given another implementation (`OverloadConflict`).
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib().with_optional_support(false);
    let rewrite = |helper: &mut cel::parser::MacroExprHelper<'_>,
                   target: &mut Option<IdedExpr>,
                   args: &mut Vec<IdedExpr>| {
        Ok(Some(helper.next_expr(Expr::Call(CallExpr {
            func_name: MATCHES_FN.to_owned(),
            target: target.take().map(Box::new),
            args: std::mem::take(args),
        }))))
    };
    // Neither can fail on a fresh stdlib `Env`: it has no `matches` macro.
    let _ = env.add_macro(Macro::receiver("matches", 1, rewrite));
    let _ = env.add_macro(Macro::global("matches", 2, rewrite));
    Arc::new(env)
});

/// A condition after compilation.
enum Program {
    Disabled,
    Missing,
    Ready(IdedExpr),
    Invalid(String),
}

struct CompiledRule {
    id: String,
    display_name: String,
    reported_enabled: bool,
    condition: String,
    action: RuleAction,
    program: Program,
}

/// The rules of one project config, sorted and compiled, ready to evaluate.
///
/// Compile once per config version and share it (`Arc<CompiledRules>`): it is `Send + Sync`
/// and [`evaluate`](Self::evaluate) takes `&self`.
pub struct CompiledRules {
    rules: Vec<CompiledRule>,
    default: DefaultAction,
    /// The root CEL scope: the environment and the `matches` implementation, which holds the
    /// patterns written as literals, compiled with the rules.
    root: Context<'static, 'static>,
}

impl std::fmt::Debug for CompiledRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRules")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.id).collect::<Vec<_>>(),
            )
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<CompiledRules>();
};

/// Upstream's `stringCompare`: upper-cased first, then reversed, so lowercase sorts first
/// among ids equal but for case.
fn compare_ids(a: &str, b: &str) -> Ordering {
    a.to_uppercase()
        .cmp(&b.to_uppercase())
        .then_with(|| b.cmp(a))
}

impl CompiledRules {
    /// Sorts `rules` (priority descending, then id compared upper-cased, lowercase first on
    /// ties) and compiles the condition of every enabled rule. Never fails: a condition that
    /// does not compile is kept as an error, and the rule evaluates to [`RuleStatus::Error`].
    pub fn compile(rules: &BTreeMap<String, SignUpRule>, default: DefaultAction) -> Self {
        let mut sorted: Vec<(&String, &SignUpRule)> = rules.iter().collect();
        sorted.sort_by(|(a_id, a), (b_id, b)| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| compare_ids(a_id, b_id))
        });

        let mut literals: HashMap<String, Result<Arc<Regex>, String>> = HashMap::new();
        let compiled = sorted
            .into_iter()
            .map(|(id, rule)| {
                let condition = rule.condition.clone().unwrap_or_default();
                let program = if !rule.is_enabled() {
                    Program::Disabled
                } else if condition.is_empty() {
                    Program::Missing
                } else {
                    match compile_condition(&condition) {
                        Ok((expr, patterns)) => {
                            let mut bad = None;
                            for pattern in patterns {
                                let compiled = literals
                                    .entry(pattern)
                                    .or_insert_with_key(|p| build_regex(p).map(Arc::new));
                                if let Err(e) = compiled {
                                    bad.get_or_insert_with(|| e.clone());
                                }
                            }
                            match bad {
                                Some(e) => Program::Invalid(e),
                                None => Program::Ready(expr),
                            }
                        }
                        Err(e) => Program::Invalid(e),
                    }
                };
                CompiledRule {
                    id: id.clone(),
                    display_name: rule.display_name.clone().unwrap_or_default(),
                    reported_enabled: rule.enabled != Some(false),
                    condition,
                    action: rule.action.clone(),
                    program,
                }
            })
            .collect();

        let literals: HashMap<String, Arc<Regex>> = literals
            .into_iter()
            .filter_map(|(p, r)| Some((p, r.ok()?)))
            .collect();
        let mut root = Context::with_env(Arc::clone(&ENV));
        let matches = move |This(text): This<Arc<String>>,
                            pattern: Arc<String>|
              -> Result<bool, ExecutionError> {
            match literals.get(pattern.as_str()) {
                Some(re) => search(re, &text),
                None => {
                    let re = dynamic_regex(&pattern)?;
                    search(&re, &text)
                }
            }
        };
        // Cannot fail: no overload of the environment is named `postern_matches`.
        let _ = root.add_function(MATCHES_FN, matches);

        CompiledRules {
            rules: compiled,
            default,
            root,
        }
    }

    /// The number of rules, disabled ones included.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates the rules in order against `ctx`. Never fails and never panics: a rule whose
    /// condition errs is reported with [`RuleStatus::Error`] and treated as not matched.
    pub fn evaluate(&self, ctx: &RuleContext) -> Evaluation {
        let mut scope = self.root.new_inner_scope();
        scope.add_variable_from_value("email", ctx.email.clone());
        scope.add_variable_from_value("emailDomain", ctx.email_domain.clone());
        scope.add_variable_from_value("countryCode", ctx.country_code.clone());
        scope.add_variable_from_value("authMethod", ctx.auth_method.as_str());
        scope.add_variable_from_value("oauthProvider", ctx.oauth_provider.clone());
        scope.add_variable_as_val(
            "riskScores",
            Box::new(RiskScores {
                bot: CelInt::from(ctx.risk_bot),
                free_trial_abuse: CelInt::from(ctx.risk_free_trial_abuse),
            }),
        );

        let mut evaluations = Vec::with_capacity(self.rules.len());
        let mut matched = Vec::new();
        let mut restricted = None;
        let mut decided = None;
        for rule in &self.rules {
            let (status, error) = match &rule.program {
                Program::Disabled => (RuleStatus::Disabled, None),
                Program::Missing => (RuleStatus::MissingCondition, None),
                Program::Invalid(e) => (RuleStatus::Error, Some(e.clone())),
                Program::Ready(expr) => match execute(expr, &scope) {
                    Ok(true) => (RuleStatus::Matched, None),
                    Ok(false) => (RuleStatus::NotMatched, None),
                    Err(e) => (RuleStatus::Error, Some(e)),
                },
            };
            evaluations.push(RuleEvaluation {
                rule_id: rule.id.clone(),
                display_name: rule.display_name.clone(),
                enabled: rule.reported_enabled,
                condition: rule.condition.clone(),
                status,
                action: rule.action.clone(),
                error,
            });
            if status != RuleStatus::Matched {
                continue;
            }
            let action = rule.action.type_;
            matched.push((rule.id.clone(), action));
            match action {
                ActionType::Allow => decided = Some((Decision::Allow, rule.id.clone())),
                ActionType::Reject => decided = Some((Decision::Reject, rule.id.clone())),
                ActionType::Restrict => {
                    restricted.get_or_insert_with(|| rule.id.clone());
                }
                ActionType::Log => {}
            }
            if decided.is_some() {
                break;
            }
        }

        let (decision, decision_rule_id) = match decided {
            Some((decision, id)) => (decision, Some(id)),
            None => match self.default {
                DefaultAction::Allow => (Decision::DefaultAllow, None),
                DefaultAction::Reject => (Decision::DefaultReject, None),
            },
        };
        Evaluation {
            evaluations,
            outcome: Outcome {
                should_allow: matches!(decision, Decision::Allow | Decision::DefaultAllow),
                decision,
                decision_rule_id,
                restricted_because_of_rule_id: restricted,
                matched,
            },
        }
    }
}

/// `riskScores`, a map of two ints. Not a CEL map: that is a `HashMap`, which error messages
/// quote with its keys in a random order, so the same evaluation would not always give the
/// same error text.
#[derive(Clone, Debug)]
struct RiskScores {
    bot: CelInt,
    free_trial_abuse: CelInt,
}

impl RiskScores {
    fn field(&self, key: &dyn Val) -> Result<&CelInt, ExecutionError> {
        let Some(key) = key.downcast_ref::<CelString>() else {
            return Err(ExecutionError::UnexpectedType {
                got: key.get_type().name().to_owned(),
                want: "string".to_owned(),
            });
        };
        match key.inner() {
            "bot" => Ok(&self.bot),
            "free_trial_abuse" => Ok(&self.free_trial_abuse),
            other => Err(ExecutionError::no_such_key(other)),
        }
    }
}

impl Val for RiskScores {
    fn get_type(&self) -> &Type {
        &MAP_TYPE
    }

    fn cel_type() -> &'static Type {
        &MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn into_indexer<'v>(self: Box<Self>) -> Option<Box<dyn Indexer + 'v>>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }
}

impl Indexer for RiskScores {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.field(idx).map(|v| CowVal::Borrowed(v))
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.field(idx).map(|v| Box::new(*v) as Box<dyn Val + 'v>)
    }
}

impl Container for RiskScores {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(self.field(value).is_ok())
    }
}

impl Sizer for RiskScores {
    fn size(&self) -> CelInt {
        CelInt::from(2)
    }
}

/// Runs one condition; a non-boolean result is an error. A panic inside the CEL crate (none
/// is known) is turned into an error too.
fn execute(expr: &IdedExpr, scope: &Context<'_, 'static>) -> Result<bool, String> {
    // Not `Value::resolve_val`, which would save converting the result: it is
    // `#[inline(always)]`, so this crate would get its own copy, recursion included, built at
    // this crate's opt-level, and a debug build would overflow the stack again.
    match catch_unwind(AssertUnwindSafe(|| scope.resolve(expr))) {
        Ok(Ok(Value::Bool(b))) => Ok(b),
        Ok(Ok(other)) => Err(format!(
            "condition evaluated to {}, not a boolean",
            other.type_of()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("internal error while evaluating the condition".to_owned()),
    }
}

/// Checks a condition before it is saved: it must compile (see [`CompiledRules::compile`]),
/// be at most [`MAX_CONDITION_LEN`] bytes and [`MAX_NESTING`] deep, use only the known
/// variables and functions, no comprehension macros, and its literal `matches` patterns must
/// be valid. The error is a human-readable reason. An empty condition is refused here,
/// though a rule without a condition is valid config (it is skipped).
pub fn check_condition(src: &str) -> Result<(), String> {
    let (_, patterns) = compile_condition(src)?;
    patterns.iter().try_for_each(|p| build_regex(p).map(|_| ()))
}

/// Parses and vets a condition; returns the expression and its literal `matches` patterns.
fn compile_condition(src: &str) -> Result<(IdedExpr, Vec<String>), String> {
    if src.len() > MAX_CONDITION_LEN {
        return Err(format!(
            "condition is {} bytes long, the maximum is {MAX_CONDITION_LEN}",
            src.len()
        ));
    }
    let parsed = catch_unwind(|| {
        ENV.parser()
            .max_recursion_depth(MAX_NESTING)
            .parse(src)
            .map_err(|e| e.to_string())
    });
    let expr = match parsed {
        Ok(result) => result?,
        Err(_) => return Err("internal error while parsing the condition".to_owned()),
    };
    let patterns = inspect(&expr)?;
    let references = expr.references();
    let mut unknown_vars: Vec<&str> = references
        .variables()
        .into_iter()
        .filter(|v| !VARIABLES.contains(v))
        .collect();
    if !unknown_vars.is_empty() {
        unknown_vars.sort_unstable();
        return Err(format!("unknown variable: {}", unknown_vars.join(", ")));
    }
    let mut unknown_fns: Vec<&str> = references
        .functions()
        .into_iter()
        .filter(|f| !FUNCTIONS.contains(f))
        .map(|f| if f == MATCHES_FN { "matches" } else { f })
        .collect();
    if !unknown_fns.is_empty() {
        unknown_fns.sort_unstable();
        return Err(format!("unknown function: {}", unknown_fns.join(", ")));
    }
    Ok((expr, patterns))
}

/// Walks the expression without recursion: refuses comprehensions and struct literals, and
/// collects the patterns of `matches` calls written as string literals.
fn inspect(expr: &IdedExpr) -> Result<Vec<String>, String> {
    let mut patterns = Vec::new();
    let mut stack = vec![expr];
    while let Some(node) = stack.pop() {
        match &node.expr {
            Expr::Call(call) => {
                if call.func_name == MATCHES_FN
                    && let Some(IdedExpr {
                        expr: Expr::Literal(LiteralValue::String(pattern)),
                        ..
                    }) = call.args.last()
                {
                    patterns.push(pattern.inner().to_owned());
                }
                stack.extend(call.target.as_deref());
                stack.extend(&call.args);
            }
            Expr::Comprehension(_) => {
                return Err(
                    "comprehension macros (all, exists, exists_one, map, filter) are not supported"
                        .to_owned(),
                );
            }
            Expr::Struct(_) => return Err("struct literals are not supported".to_owned()),
            Expr::List(list) => stack.extend(&list.elements),
            Expr::Map(map) => {
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(e) => {
                            stack.push(&e.key);
                            stack.push(&e.value);
                        }
                        EntryExpr::StructField(f) => stack.push(&f.value),
                    }
                }
            }
            Expr::Select(select) => stack.push(&select.operand),
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    Ok(patterns)
}

// ---------------------------------------------------------------------------------------------
// matches
// ---------------------------------------------------------------------------------------------

fn build_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "regex is {} bytes long, the maximum is {MAX_PATTERN_LEN}",
            pattern.len()
        ));
    }
    RegexBuilder::new(pattern)
        .backtrack_limit(REGEX_BACKTRACK_LIMIT)
        .delegate_size_limit(REGEX_SIZE_LIMIT)
        .delegate_dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

fn search(re: &Regex, text: &str) -> Result<bool, ExecutionError> {
    if text.len() > MAX_MATCH_INPUT_LEN {
        return Err(ExecutionError::function_error(
            "matches",
            format!(
                "input is {} bytes long, the maximum is {MAX_MATCH_INPUT_LEN}",
                text.len()
            ),
        ));
    }
    re.is_match(text)
        .map_err(|e| ExecutionError::function_error("matches", e))
}

/// Compiled patterns of `matches` calls whose pattern is computed, not a literal: a map with
/// a use counter, evicting the least recently used entry when full.
struct RegexCache {
    tick: u64,
    entries: HashMap<String, (u64, Result<Arc<Regex>, String>)>,
}

static DYNAMIC_REGEXES: LazyLock<Mutex<RegexCache>> = LazyLock::new(|| {
    Mutex::new(RegexCache {
        tick: 0,
        entries: HashMap::new(),
    })
});

fn dynamic_regex(pattern: &str) -> Result<Arc<Regex>, ExecutionError> {
    let cached = {
        let mut cache = DYNAMIC_REGEXES.lock().unwrap_or_else(|e| e.into_inner());
        cache.tick += 1;
        let tick = cache.tick;
        cache.entries.get_mut(pattern).map(|(used, re)| {
            *used = tick;
            re.clone()
        })
    };
    let compiled = match cached {
        Some(re) => re,
        None => {
            // Compiled outside the lock: it takes up to a fraction of a millisecond.
            let re = build_regex(pattern).map(Arc::new);
            let mut cache = DYNAMIC_REGEXES.lock().unwrap_or_else(|e| e.into_inner());
            if cache.entries.len() >= REGEX_CACHE_CAPACITY {
                let oldest = cache
                    .entries
                    .iter()
                    .min_by_key(|(_, (used, _))| *used)
                    .map(|(p, _)| p.clone());
                if let Some(oldest) = oldest {
                    cache.entries.remove(&oldest);
                }
            }
            let tick = cache.tick;
            cache.entries.insert(pattern.to_owned(), (tick, re.clone()));
            re
        }
    };
    compiled.map_err(|e| ExecutionError::function_error("matches", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn rule(priority: i64, condition: &str, action: ActionType) -> SignUpRule {
        SignUpRule {
            enabled: Some(true),
            priority,
            condition: Some(condition.to_owned()),
            action: RuleAction {
                type_: action,
                message: None,
            },
            ..SignUpRule::default()
        }
    }

    fn rules(list: &[(&str, SignUpRule)]) -> BTreeMap<String, SignUpRule> {
        list.iter()
            .map(|(id, r)| ((*id).to_owned(), r.clone()))
            .collect()
    }

    fn ctx(email: &str) -> RuleContext {
        RuleContext::new(Some(email), Some("us"), AuthMethod::Password, None)
    }

    /// Evaluates one enabled `log` rule and returns its status and error.
    fn status_of(condition: &str, ctx: &RuleContext) -> (RuleStatus, Option<String>) {
        let compiled = CompiledRules::compile(
            &rules(&[("r", rule(0, condition, ActionType::Log))]),
            DefaultAction::Allow,
        );
        let e = compiled.evaluate(ctx).evaluations.remove(0);
        (e.status, e.error)
    }

    fn assert_status(condition: &str, ctx: &RuleContext, expected: RuleStatus) {
        let (status, error) = status_of(condition, ctx);
        assert_eq!(status, expected, "{condition}: {error:?}");
        assert_eq!(
            error.is_some(),
            expected == RuleStatus::Error,
            "{condition}"
        );
    }

    fn ids(evaluation: &Evaluation) -> Vec<&str> {
        evaluation
            .evaluations
            .iter()
            .map(|e| e.rule_id.as_str())
            .collect()
    }

    #[test]
    fn orders_by_priority_then_upper_cased_id_lowercase_first() {
        let r = |p| rule(p, "false", ActionType::Log);
        let compiled = CompiledRules::compile(
            &rules(&[
                ("9", r(0)),
                ("10", r(0)),
                ("b", r(0)),
                ("A", r(0)),
                ("ABC", r(0)),
                ("abc", r(0)),
                ("aBc", r(0)),
                ("_x", r(0)),
                ("low", r(-1)),
                ("z-high", r(5)),
                ("Z-HIGH", r(5)),
            ]),
            DefaultAction::Allow,
        );
        assert_eq!(
            ids(&compiled.evaluate(&ctx("a@b.c"))),
            [
                "z-high", "Z-HIGH", "10", "9", "A", "abc", "aBc", "ABC", "b", "_x", "low"
            ]
        );
        assert_eq!(compiled.len(), 11);
    }

    #[test]
    fn allow_and_reject_decide_and_stop() {
        for (action, decision, allowed) in [
            (ActionType::Allow, Decision::Allow, true),
            (ActionType::Reject, Decision::Reject, false),
        ] {
            let compiled = CompiledRules::compile(
                &rules(&[
                    ("first", rule(2, "email == 'a@b.c'", action)),
                    ("later", rule(1, "true", ActionType::Log)),
                ]),
                DefaultAction::Reject,
            );
            let e = compiled.evaluate(&ctx("A@B.C"));
            assert_eq!(
                ids(&e),
                ["first"],
                "rules after the decision are not listed"
            );
            assert_eq!(e.outcome.decision, decision);
            assert_eq!(e.outcome.should_allow, allowed);
            assert_eq!(e.outcome.decision_rule_id.as_deref(), Some("first"));
            assert_eq!(e.outcome.matched, [("first".to_owned(), action)]);
            assert_eq!(e.outcome.restricted_because_of_rule_id, None);
        }
    }

    #[test]
    fn restrict_and_log_continue_to_the_default() {
        let compiled = CompiledRules::compile(
            &rules(&[
                ("logged", rule(3, "true", ActionType::Log)),
                ("restricted", rule(2, "true", ActionType::Restrict)),
                ("unmatched", rule(1, "false", ActionType::Reject)),
            ]),
            DefaultAction::Allow,
        );
        let e = compiled.evaluate(&ctx("a@b.c"));
        assert_eq!(ids(&e), ["logged", "restricted", "unmatched"]);
        assert_eq!(e.outcome.decision, Decision::DefaultAllow);
        assert!(e.outcome.should_allow);
        assert_eq!(e.outcome.decision_rule_id, None);
        assert_eq!(
            e.outcome.restricted_because_of_rule_id.as_deref(),
            Some("restricted")
        );
        assert_eq!(
            e.outcome.matched,
            [
                ("logged".to_owned(), ActionType::Log),
                ("restricted".to_owned(), ActionType::Restrict)
            ]
        );
    }

    #[test]
    fn default_reject_applies_when_nothing_decides() {
        let compiled = CompiledRules::compile(
            &rules(&[("r", rule(0, "false", ActionType::Allow))]),
            DefaultAction::Reject,
        );
        let outcome = compiled.evaluate(&ctx("a@b.c")).outcome;
        assert_eq!(outcome.decision, Decision::DefaultReject);
        assert!(!outcome.should_allow);
        assert!(outcome.matched.is_empty());

        let empty = CompiledRules::compile(&BTreeMap::new(), DefaultAction::Reject);
        assert!(empty.is_empty());
        let e = empty.evaluate(&ctx("a@b.c"));
        assert!(e.evaluations.is_empty());
        assert_eq!(e.outcome.decision, Decision::DefaultReject);
    }

    #[test]
    fn restrict_then_allow_records_the_first_restrict() {
        let compiled = CompiledRules::compile(
            &rules(&[
                ("r1", rule(3, "true", ActionType::Restrict)),
                ("r2", rule(2, "true", ActionType::Restrict)),
                ("ok", rule(1, "true", ActionType::Allow)),
            ]),
            DefaultAction::Reject,
        );
        let outcome = compiled.evaluate(&ctx("a@b.c")).outcome;
        assert_eq!(outcome.decision, Decision::Allow);
        assert_eq!(outcome.decision_rule_id.as_deref(), Some("ok"));
        assert_eq!(outcome.restricted_because_of_rule_id.as_deref(), Some("r1"));
        assert_eq!(outcome.matched.len(), 3);
    }

    #[test]
    fn restrict_then_reject_rejects() {
        let compiled = CompiledRules::compile(
            &rules(&[
                ("r", rule(2, "true", ActionType::Restrict)),
                ("no", rule(1, "true", ActionType::Reject)),
            ]),
            DefaultAction::Allow,
        );
        let outcome = compiled.evaluate(&ctx("a@b.c")).outcome;
        assert!(!outcome.should_allow);
        assert_eq!(outcome.decision, Decision::Reject);
        assert_eq!(outcome.restricted_because_of_rule_id.as_deref(), Some("r"));
    }

    #[test]
    fn disabled_and_missing_conditions_are_skipped() {
        let mut off = rule(5, "true", ActionType::Reject);
        off.enabled = Some(false);
        let mut absent = rule(4, "true", ActionType::Reject);
        absent.enabled = None;
        let mut none = rule(3, "", ActionType::Reject);
        none.condition = None;
        let empty = rule(2, "", ActionType::Reject);
        let compiled = CompiledRules::compile(
            &rules(&[
                ("off", off),
                ("absent", absent),
                ("none", none),
                ("empty", empty),
            ]),
            DefaultAction::Allow,
        );
        let e = compiled.evaluate(&ctx("a@b.c"));
        let got: Vec<_> = e
            .evaluations
            .iter()
            .map(|e| (e.rule_id.as_str(), e.status, e.enabled))
            .collect();
        assert_eq!(
            got,
            [
                ("off", RuleStatus::Disabled, false),
                // upstream quirk: `enabled !== false`
                ("absent", RuleStatus::Disabled, true),
                ("none", RuleStatus::MissingCondition, true),
                ("empty", RuleStatus::MissingCondition, true),
            ]
        );
        assert_eq!(e.outcome.decision, Decision::DefaultAllow);
    }

    #[test]
    fn context_values_cannot_inject_cel() {
        let evil = RuleContext::new(
            Some("x\" || true || \""),
            Some("' || true || '"),
            AuthMethod::Oauth,
            Some("\") || true || (\""),
        );
        for condition in [
            "email == \"a@b.c\"",
            "countryCode == 'US'",
            "oauthProvider == 'google'",
            "email.contains(\"a@b.c\")",
        ] {
            assert_status(condition, &evil, RuleStatus::NotMatched);
        }
        assert_status("email == 'x\" || true || \"'", &evil, RuleStatus::Matched);
    }

    #[test]
    fn string_methods_with_both_quote_styles() {
        let c = ctx("Alice@Example.COM");
        for condition in [
            "email.endsWith(\"@example.com\")",
            "email.endsWith('@example.com')",
            "email.startsWith('alice')",
            "email.contains(\"ce@ex\")",
            "email.matches('^ali')",
            "email.matches(\"example\\\\.com$\")",
            "matches(email, 'ice')",
            "emailDomain.endsWith('.com') && emailDomain.startsWith(\"ex\")",
            "emailDomain.matches('^example\\\\.')",
            "(email + \"\").endsWith(\"m\")",
            "('x' + emailDomain).startsWith('xex')",
            "emailDomain in ['other.org', 'example.com']",
            "countryCode == 'US' && authMethod == 'password' && oauthProvider == ''",
            "riskScores.bot == 0 && riskScores['free_trial_abuse'] < 1",
            "size(email) == 17",
            "has(riskScores.bot) && !has(riskScores.other)",
            "'bot' in riskScores && !('other' in riskScores)",
            "size(riskScores) == 2",
        ] {
            assert_status(condition, &c, RuleStatus::Matched);
        }
        for condition in [
            "email.endsWith('@example.org')",
            "email.matches('^lice')",
            "emailDomain.contains('alice')",
            "countryCode in ['DE', 'FR']",
        ] {
            assert_status(condition, &c, RuleStatus::NotMatched);
        }
    }

    #[test]
    fn methods_on_non_strings_are_errors() {
        let c = ctx("a@b.c").with_risk_scores(10, 0);
        for condition in [
            "riskScores.bot.contains('1')",
            "riskScores.bot.matches('1')",
            "riskScores.bot.startsWith('1')",
            "email.matches(1)",
            "riskScores.missing == 1",
            "riskScores[0] == 1",
            "riskScores + 1 == 1",
            "1 / 0 == 1",
            "9223372036854775807 + 1 > 0",
        ] {
            assert_status(condition, &c, RuleStatus::Error);
        }
    }

    #[test]
    fn backreferences_work() {
        let pattern = "email.matches(\"^(.)\\\\1\")";
        assert_status(pattern, &ctx("aab@c.d"), RuleStatus::Matched);
        assert_status(pattern, &ctx("abb@c.d"), RuleStatus::NotMatched);
        assert_status(
            "emailDomain.matches('^(?!gmail\\\\.)')",
            &ctx("a@yahoo.com"),
            RuleStatus::Matched,
        );
    }

    #[test]
    fn catastrophic_backtracking_is_a_quick_error() {
        let c = ctx(&"a".repeat(40));
        for pattern in ["^(a|aa)*\\\\1b", "^(?:a|a)*(?!a)b", "(a*)*\\\\1b$"] {
            let start = Instant::now();
            let (status, error) = status_of(&format!("email.matches('{pattern}')"), &c);
            assert_eq!(status, RuleStatus::Error, "{pattern}");
            assert!(error.unwrap().contains("matches"));
            assert!(start.elapsed() < Duration::from_millis(500), "{pattern}");
        }
    }

    #[test]
    fn bad_regexes_are_errors() {
        let c = ctx("(@b.c");
        // literal: refused when compiling
        assert_status("email.matches('(')", &c, RuleStatus::Error);
        assert_status("false && email.matches('[')", &c, RuleStatus::Error);
        assert!(check_condition("email.matches('(')").is_err());
        let long = format!("email.matches('{}')", "a".repeat(MAX_PATTERN_LEN + 1));
        assert_status(&long, &c, RuleStatus::Error);
        // computed: refused when evaluating
        assert!(check_condition("email.matches(email)").is_ok());
        assert_status("email.matches(email)", &c, RuleStatus::Error);
        assert_status("email.matches(emailDomain)", &c, RuleStatus::Matched);
        // an over-long input
        let long_email = ctx(&format!("{}@b.c", "a".repeat(MAX_MATCH_INPUT_LEN)));
        assert_status("email.matches('b')", &long_email, RuleStatus::Error);
        assert_status("email.contains('b')", &long_email, RuleStatus::Matched);
    }

    #[test]
    fn non_boolean_results_are_errors() {
        // `riskScores` (not a CEL value) gives "no value representation" instead
        assert_status("riskScores", &ctx("a@b.c"), RuleStatus::Error);
        for condition in ["email", "1", "riskScores.bot", "[true]", "null"] {
            let (status, error) = status_of(condition, &ctx("a@b.c"));
            assert_eq!(status, RuleStatus::Error, "{condition}");
            assert!(error.unwrap().contains("not a boolean"), "{condition}");
        }
    }

    #[test]
    fn malformed_conditions_are_errors_not_aborts() {
        let deep = |n| format!("{}true{}", "(".repeat(n), ")".repeat(n));
        let deep_list = |n| format!("{}1{} == 1", "[".repeat(n), "]".repeat(n));
        let unbalanced = "(".repeat(200);
        let too_long = format!("email == '{}'", "a".repeat(MAX_CONDITION_LEN));
        for condition in [
            "",
            " ",
            ".",
            "/",
            "}}}}",
            "1 +\n(\n)",
            "'\\u00'",
            "email ==",
            "email = 'a'",
            &deep(200),
            &deep(MAX_NESTING as usize + 1),
            &deep_list(200),
            &unbalanced,
            &too_long,
        ] {
            assert!(check_condition(condition).is_err(), "{condition}");
            if !condition.is_empty() {
                assert_status(condition, &ctx("a@b.c"), RuleStatus::Error);
            }
        }
        assert_status(
            &deep(MAX_NESTING as usize - 2),
            &ctx("a@b.c"),
            RuleStatus::Matched,
        );
    }

    /// The longest conditions the length cap lets through, shaped to make the parser and the
    /// interpreter recurse as deep as they can, run on a test thread's 2 MiB stack.
    #[test]
    fn worst_case_shapes_at_the_length_cap_do_not_overflow() {
        let fill = |unit: &str, head: &str, tail: &str| {
            let n = (MAX_CONDITION_LEN - head.len() - tail.len()) / unit.len();
            format!("{head}{}{tail}", unit.repeat(n))
        };
        let c = ctx("a@b.c");
        for condition in [
            fill("1+", "", "1 > 0"),
            fill("1*", "", "1 > 0"),
            fill("-", "", "1 < 0"),
            fill("!", "", "true"),
            fill("email+", "(", "'') == ''"),
            fill(".bot", "riskScores", " == 1"),
            fill("['bot']", "riskScores", " == 1"),
            fill(" && true", "true", ""),
            fill(" || false", "false", ""),
            fill(".endsWith('a')", "email", ""),
            fill(".size()", "email", " == 1"),
            fill("[1,", "", "1] == 1"),
            fill("true ? true : ", "", "true"),
            fill("email == 'a' || ", "", "true"),
            fill("1,", "[", "1] == []"),
            fill("1:1,", "{", "1:1} == {}"),
        ] {
            assert!(condition.len() <= MAX_CONDITION_LEN);
            let _ = check_condition(&condition);
            let _ = status_of(&condition, &c);
        }
    }

    #[test]
    fn unknown_names_and_comprehensions_are_refused() {
        for (condition, reason) in [
            ("foo == 1", "unknown variable: foo"),
            ("email.lowerAscii() == 'a'", "unknown function: lowerAscii"),
            ("timestamp('2020-01-01T00:00:00Z') > 1", "unknown function"),
            ("[1].exists(x, x == 1)", "comprehension"),
            ("x.y == 1", "unknown variable: x"),
            ("[1, 2].all(email, email > 0)", "comprehension"),
            ("[1].map(email, [1]).size() > 0", "comprehension"),
            ("type(email) == string", "unknown"),
        ] {
            let err = check_condition(condition).unwrap_err();
            assert!(err.contains(reason), "{condition}: {err}");
            assert_status(condition, &ctx("a@b.c"), RuleStatus::Error);
        }
        assert!(check_condition("email.matches('^a') || emailDomain.endsWith('x')").is_ok());
    }

    #[test]
    fn dynamic_regex_cache_stays_bounded() {
        let compiled = CompiledRules::compile(
            &rules(&[(
                "r",
                rule(0, "emailDomain.matches(email + 'x')", ActionType::Log),
            )]),
            DefaultAction::Allow,
        );
        for i in 0..(REGEX_CACHE_CAPACITY + 50) {
            compiled.evaluate(&ctx(&format!("u{i}@x")));
        }
        let len = DYNAMIC_REGEXES.lock().unwrap().entries.len();
        assert!(len <= REGEX_CACHE_CAPACITY, "{len}");
    }

    #[test]
    fn config_defaults_and_unknown_keys_round_trip() {
        let json = serde_json::json!({
            "displayName": "Block",
            "condition": "true",
            "action": {"type": "restrict", "message": "m"},
            "futureKey": {"a": 1},
            "priority": 0
        });
        let parsed: SignUpRule = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(parsed.enabled, None);
        assert!(!parsed.is_enabled());
        assert_eq!(parsed.priority, 0);
        assert_eq!(parsed.action.type_, ActionType::Restrict);
        assert_eq!(parsed.extra["futureKey"], serde_json::json!({"a": 1}));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json);

        let bare: SignUpRule = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(bare.action.type_, ActionType::Allow);
        assert!(bare.validate().is_ok());
        let d: DefaultAction = serde_json::from_value(serde_json::json!("reject")).unwrap();
        assert_eq!(d, DefaultAction::Reject);
    }

    #[test]
    fn validation() {
        let mut r = rule(-1, "true", ActionType::Allow);
        assert!(r.validate().unwrap_err().contains("priority"));
        r.priority = 0;
        assert!(r.validate().is_ok());
        r.condition = Some("nope(".to_owned());
        assert!(r.validate().is_err());

        for id in ["a", "_", "0", "rule-1", "Rule_2", &"x".repeat(63)] {
            assert!(valid_rule_id(id), "{id}");
        }
        for id in ["", "-a", "a.b", "a b", "é", &"x".repeat(64)] {
            assert!(!valid_rule_id(id), "{id}");
        }
    }

    #[test]
    fn restriction_details_text() {
        assert_eq!(
            restriction_details("r1", None),
            "Restricted by sign-up rule: r1"
        );
        assert_eq!(
            restriction_details("r1", Some("")),
            "Restricted by sign-up rule: r1"
        );
        assert_eq!(
            restriction_details("r1", Some("Spam")),
            "Restricted by sign-up rule: r1 (Spam)"
        );
    }

    #[test]
    fn context_normalisation() {
        let c = RuleContext::new(
            Some("\u{feff} John.Doe+X@Sub.Example.COM \n"),
            Some(" de "),
            AuthMethod::Oauth,
            Some("google"),
        );
        assert_eq!(c.email, "john.doe+x@sub.example.com");
        assert_eq!(c.email_domain, "sub.example.com");
        assert_eq!(c.country_code, "DE");
        assert_eq!(c.oauth_provider, "google");
        assert_eq!(c.auth_method.as_str(), "oauth");
        let c = RuleContext::new(Some("a@b@c"), None, AuthMethod::Passkey, None);
        assert_eq!(c.email_domain, "c");
        let c = RuleContext::new(None, None, AuthMethod::Otp, None);
        assert_eq!((c.email.as_str(), c.email_domain.as_str()), ("", ""));
        assert_eq!(c.country_code, "");
        let c = RuleContext::new(Some("no-at"), None, AuthMethod::Otp, None);
        assert_eq!(c.email_domain, "");
    }

    #[test]
    fn serializes_to_the_tester_wire_shape() {
        let mut named = rule(2, "email.matches('(')", ActionType::Reject);
        named.display_name = Some("Broken".to_owned());
        named.action.message = Some("internal".to_owned());
        let mut off = rule(1, "true", ActionType::Log);
        off.enabled = None;
        let compiled = CompiledRules::compile(
            &rules(&[
                ("broken", named),
                ("off", off),
                ("ok", rule(0, "true", ActionType::Restrict)),
            ]),
            DefaultAction::Reject,
        );
        let mut json = serde_json::to_value(compiled.evaluate(&ctx("a@b.c"))).unwrap();
        let error = json["evaluations"][0]
            .as_object_mut()
            .unwrap()
            .remove("error")
            .unwrap();
        assert!(error.as_str().unwrap().contains("invalid regex"));
        assert_eq!(
            json,
            serde_json::json!({
                "evaluations": [
                    {"rule_id": "broken", "display_name": "Broken", "enabled": true,
                     "condition": "email.matches('(')", "status": "error",
                     "action": {"type": "reject", "message": "internal"}},
                    {"rule_id": "off", "display_name": "", "enabled": true,
                     "condition": "true", "status": "disabled", "action": {"type": "log"}},
                    {"rule_id": "ok", "display_name": "", "enabled": true,
                     "condition": "true", "status": "matched", "action": {"type": "restrict"}},
                ],
                "outcome": {
                    "should_allow": false,
                    "decision": "default-reject",
                    "decision_rule_id": null,
                    "restricted_because_of_rule_id": "ok",
                }
            })
        );
        assert_eq!(
            serde_json::to_value(RuleStatus::NotMatched).unwrap(),
            "not_matched"
        );
        assert_eq!(
            serde_json::to_value(RuleStatus::MissingCondition).unwrap(),
            "missing_condition"
        );
        assert_eq!(
            serde_json::to_value(Decision::DefaultAllow).unwrap(),
            "default-allow"
        );
    }
}

/// A compiled rule set and the rules it was compiled from.
type CachedRules = (
    BTreeMap<String, SignUpRule>,
    DefaultAction,
    std::sync::Arc<CompiledRules>,
);

/// Compiled rules per project, rebuilt when the project's rules change (compared exactly,
/// so a change made on another instance is picked up on next use).
#[derive(Debug, Default)]
pub(crate) struct RulesCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, CachedRules>>,
}

impl RulesCache {
    /// The compiled form of `rules` for project `project_id`.
    pub(crate) fn get(
        &self,
        project_id: &str,
        rules: &BTreeMap<String, SignUpRule>,
        default: DefaultAction,
    ) -> std::sync::Arc<CompiledRules> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, d, compiled)) = entries.get(project_id)
            && *d == default
            && cached == rules
        {
            return std::sync::Arc::clone(compiled);
        }
        let compiled = std::sync::Arc::new(CompiledRules::compile(rules, default));
        entries.insert(
            project_id.to_owned(),
            (rules.clone(), default, std::sync::Arc::clone(&compiled)),
        );
        compiled
    }
}

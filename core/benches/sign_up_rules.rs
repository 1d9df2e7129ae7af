//! Criterion benchmarks of the sign-up rules engine: evaluating a realistic set of 20 enabled
//! rules against one sign-up with the compiled rules cached (the per-sign-up cost), and
//! compiling 100 rules (the cost per project config change).
//!
//! `cargo bench -p postern-core --bench sign_up_rules`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use postern_core::sign_up_rules::{
    ActionType, AuthMethod, CompiledRules, DefaultAction, RuleAction, RuleContext, SignUpRule,
};

/// Twenty conditions of the kinds admins write; none matches the benchmark context, so every
/// rule is evaluated.
const CONDITIONS: [&str; 20] = [
    "emailDomain == 'mailinator.com'",
    "emailDomain == 'guerrillamail.com' || emailDomain == 'sharklasers.com'",
    "emailDomain in ['10minutemail.com', 'tempmail.com', 'trashmail.com', 'yopmail.com']",
    "email.endsWith('.ru') && authMethod == 'password'",
    "emailDomain.endsWith('.xyz')",
    "email.matches('^[0-9]+@')",
    "email.matches('\\\\+.*\\\\+')",
    "emailDomain.matches('^(mail|temp|throwaway)[0-9]*\\\\.')",
    "countryCode in ['KP', 'IR', 'SY', 'CU']",
    "countryCode == 'RU' && riskScores.bot > 50",
    "riskScores.bot > 90",
    "riskScores.free_trial_abuse > 80 && authMethod == 'oauth'",
    "authMethod == 'oauth' && oauthProvider == 'github' && emailDomain == 'users.noreply.github.com'",
    "email.contains('test+') && countryCode != 'US'",
    "email.startsWith('admin@') || email.startsWith('root@')",
    "size(email) > 100",
    "emailDomain in ['competitor.com', 'rival.io'] && authMethod != 'otp'",
    "email.matches('^(.)\\\\1{4,}')",
    "countryCode == '' && riskScores.bot > 70",
    "oauthProvider == 'facebook' && riskScores['free_trial_abuse'] > 50",
];

const ACTIONS: [ActionType; 4] = [
    ActionType::Reject,
    ActionType::Restrict,
    ActionType::Log,
    ActionType::Allow,
];

fn rules(n: usize) -> BTreeMap<String, SignUpRule> {
    (0..n)
        .map(|i| {
            let rule = SignUpRule {
                enabled: Some(true),
                display_name: Some(format!("Rule {i}")),
                priority: (i % 5) as i64,
                condition: Some(CONDITIONS[i % CONDITIONS.len()].to_owned()),
                action: RuleAction {
                    type_: ACTIONS[i % ACTIONS.len()],
                    message: None,
                },
                ..SignUpRule::default()
            };
            (format!("rule-{i}"), rule)
        })
        .collect()
}

fn sign_up_rules(c: &mut Criterion) {
    let twenty = rules(20);
    let compiled = CompiledRules::compile(&twenty, DefaultAction::Allow);
    let ctx = RuleContext::new(
        Some("Jane.Doe@Example.com"),
        Some("de"),
        AuthMethod::Password,
        None,
    )
    .with_risk_scores(12, 3);
    let evaluation = compiled.evaluate(&ctx);
    assert_eq!(evaluation.evaluations.len(), 20);
    assert!(evaluation.outcome.matched.is_empty());
    assert!(evaluation.evaluations.iter().all(|e| e.error.is_none()));

    let mut g = c.benchmark_group("sign_up_rules");
    g.bench_function("evaluate_20_rules", |b| {
        b.iter(|| compiled.evaluate(black_box(&ctx)))
    });
    let hundred = rules(100);
    g.bench_function("compile_100_rules", |b| {
        b.iter(|| CompiledRules::compile(black_box(&hundred), DefaultAction::Allow))
    });
    g.finish();
}

criterion_group!(benches, sign_up_rules);
criterion_main!(benches);

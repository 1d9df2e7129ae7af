//! Property tests of the sign-up rules engine: arbitrary and adversarial conditions against
//! arbitrary contexts never panic or overflow the (2 MiB) test-thread stack, each compile and
//! evaluation stays fast even in a debug build, evaluation is deterministic, and the outcome
//! follows the ordering and action rules.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use postern_core::sign_up_rules::{
    ActionType, AuthMethod, CompiledRules, Decision, DefaultAction, Evaluation, RuleAction,
    RuleContext, RuleStatus, SignUpRule, check_condition,
};
use proptest::prelude::*;

/// Generous: a compile plus an evaluation takes well under a millisecond normally.
const BOUND: Duration = Duration::from_millis(200);

fn one_rule(condition: &str) -> BTreeMap<String, SignUpRule> {
    BTreeMap::from([(
        "r".to_owned(),
        SignUpRule {
            enabled: Some(true),
            condition: Some(condition.to_owned()),
            action: RuleAction {
                type_: ActionType::Log,
                message: None,
            },
            ..SignUpRule::default()
        },
    )])
}

/// Compiles and evaluates `condition`, twice, checking time, determinism and that a condition
/// refused by `check_condition` evaluates to an error.
fn run(condition: &str, ctx: &RuleContext) -> Result<Evaluation, TestCaseError> {
    let rules = one_rule(condition);
    let start = Instant::now();
    let compiled = CompiledRules::compile(&rules, DefaultAction::Allow);
    let first = compiled.evaluate(ctx);
    let elapsed = start.elapsed();
    prop_assert!(elapsed < BOUND, "{elapsed:?} for {condition:?}");
    prop_assert_eq!(&first, &compiled.evaluate(ctx));
    let again = CompiledRules::compile(&rules, DefaultAction::Allow);
    prop_assert_eq!(&first, &again.evaluate(ctx));
    let status = first.evaluations[0].status;
    if condition.is_empty() {
        prop_assert_eq!(status, RuleStatus::MissingCondition);
        return Ok(first);
    }
    if check_condition(condition).is_err() {
        prop_assert_eq!(status, RuleStatus::Error);
    }
    prop_assert!(matches!(
        status,
        RuleStatus::Matched | RuleStatus::NotMatched | RuleStatus::Error
    ));
    prop_assert_eq!(
        first.evaluations[0].error.is_some(),
        status == RuleStatus::Error
    );
    Ok(first)
}

fn auth_method() -> impl Strategy<Value = AuthMethod> {
    prop_oneof![
        Just(AuthMethod::Password),
        Just(AuthMethod::Otp),
        Just(AuthMethod::Oauth),
        Just(AuthMethod::Passkey),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9@._+\"'\\\\(){}\\[\\] |&!-]{0,40}",
        1 => (1usize..200).prop_map(|n| "a".repeat(n)),
        1 => (1usize..60).prop_map(|n| format!("{}@{}", "a".repeat(n), "a".repeat(n))),
        1 => any::<String>(),
    ]
}

fn context() -> impl Strategy<Value = RuleContext> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        auth_method(),
        proptest::option::of(text()),
        prop_oneof![Just(0i64), 0i64..=100, any::<i64>()],
        prop_oneof![Just(0i64), 0i64..=100, any::<i64>()],
    )
        .prop_map(|(email, country, method, provider, bot, abuse)| {
            RuleContext::new(
                email.as_deref(),
                country.as_deref(),
                method,
                provider.as_deref(),
            )
            .with_risk_scores(bot, abuse)
        })
}

/// Regex patterns: fragments chosen to include back-references, look-around, catastrophic
/// repetitions and unbalanced syntax.
fn pattern() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("(a|aa)*"),
        Just("(a*)*"),
        Just("(.)"),
        Just("\\1"),
        Just("\\2"),
        Just("(?=a)"),
        Just("(?!b)"),
        Just("(?<=a)"),
        Just("(?<n>a)\\k<n>"),
        Just("[a-z]+"),
        Just(".*"),
        Just("a{2,5}"),
        Just("a{1000}{1000}"),
        Just("^"),
        Just("$"),
        Just("@"),
        Just("b"),
        Just("("),
        Just(")"),
        Just("["),
        Just("\\"),
        Just("\\d+"),
        Just("|"),
        Just("\u{e9}"),
    ];
    proptest::collection::vec(fragment, 0..14).prop_map(|f| f.concat())
}

/// A CEL string literal, single- or double-quoted, with its content escaped.
fn quoted(s: &str, double: bool) -> String {
    let q = if double { '"' } else { '\'' };
    let mut out = String::from(q);
    for c in s.chars() {
        if c == '\\' || c == q {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(q);
    out
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![
            Just("email"),
            Just("emailDomain"),
            Just("countryCode"),
            Just("authMethod"),
            Just("oauthProvider"),
            Just("riskScores.bot"),
            Just("riskScores['free_trial_abuse']"),
            Just("riskScores"),
            Just("riskScores.nope"),
            Just("unknownVar"),
        ]
        .prop_map(str::to_owned),
        1 => prop_oneof![
            Just("true"),
            Just("false"),
            Just("null"),
            Just("0"),
            Just("1"),
            Just("-1"),
            Just("9223372036854775807"),
            Just("-9223372036854775808"),
            Just("18446744073709551615u"),
            Just("1.5"),
            Just("b'x'"),
            Just("[]"),
            Just("{}"),
        ]
        .prop_map(str::to_owned),
        2 => ("[a-zA-Z0-9@.'\"\\\\_ -]{0,12}", any::<bool>())
            .prop_map(|(s, double)| quoted(&s, double)),
        // raw text: often not even a valid literal
        1 => "[a-z'\"\\\\(){}\\[\\].,:?!&|=<>+*/%-]{1,6}",
    ]
}

fn condition() -> impl Strategy<Value = String> {
    leaf().prop_recursive(48, 160, 4, |inner| {
        let method = prop_oneof![
            Just("contains"),
            Just("startsWith"),
            Just("endsWith"),
            Just("matches"),
            Just("size"),
            Just("lowerAscii"),
        ];
        let binary = prop_oneof![
            Just("=="),
            Just("!="),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just("&&"),
            Just("||"),
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("in"),
        ];
        prop_oneof![
            (inner.clone(), binary, inner.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (prop_oneof![Just("!"), Just("-")], inner.clone())
                .prop_map(|(op, a)| format!("{op}{a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
            (inner.clone(), method.clone(), inner.clone())
                .prop_map(|(t, m, a)| format!("{t}.{m}({a})")),
            (inner.clone(), pattern(), any::<bool>())
                .prop_map(|(t, p, d)| format!("{t}.matches({})", quoted(&p, d))),
            (pattern(), any::<bool>())
                .prop_map(|(p, d)| format!("email.matches({})", quoted(&p, d))),
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(a, i)| format!("{a}[{i}]")),
            inner.clone().prop_map(|a| format!("size({a})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("{{{a}: {b}}}")),
        ]
    })
}

/// Well-typed boolean conditions, so that most evaluate to a boolean and the matching paths
/// (regexes included) run, not only the error paths.
fn typed_condition() -> impl Strategy<Value = String> {
    let string_leaf = prop_oneof![
        Just("email".to_owned()),
        Just("emailDomain".to_owned()),
        Just("countryCode".to_owned()),
        Just("authMethod".to_owned()),
        Just("oauthProvider".to_owned()),
        ("[a-z@.]{0,6}", any::<bool>()).prop_map(|(s, d)| quoted(&s, d)),
    ];
    let string = string_leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} + {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("(size({a}) > 2 ? {a} : {b})")),
        ]
    });
    let int = prop_oneof![
        Just("riskScores.bot".to_owned()),
        Just("riskScores['free_trial_abuse']".to_owned()),
        (0i64..=100).prop_map(|n| n.to_string()),
        string.clone().prop_map(|s| format!("size({s})")),
    ];
    let comparison = prop_oneof![Just("=="), Just("!="), Just("<"), Just(">=")];
    let method = prop_oneof![Just("contains"), Just("startsWith"), Just("endsWith")];
    let atom = prop_oneof![
        (string.clone(), comparison.clone(), string.clone())
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (int.clone(), comparison, int).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (string.clone(), method, string.clone()).prop_map(|(t, m, a)| format!("{t}.{m}({a})")),
        (string.clone(), pattern(), any::<bool>())
            .prop_map(|(t, p, d)| format!("{t}.matches({})", quoted(&p, d))),
        (string.clone(), proptest::collection::vec(string, 0..4))
            .prop_map(|(a, list)| format!("{a} in [{}]", list.join(", "))),
        Just("true".to_owned()),
    ];
    atom.prop_recursive(6, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

/// A condition made of `depth` nested brackets of one kind around a leaf.
fn nested() -> impl Strategy<Value = String> {
    (
        1usize..300,
        prop_oneof![
            Just(("(", ")")),
            Just(("[", "]")),
            Just(("{1:", "}")),
            Just(("!(", ")"))
        ],
        leaf(),
    )
        .prop_map(|(depth, (open, close), inner)| {
            format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn generated_conditions_never_panic_and_stay_fast(
        cond in prop_oneof![condition(), typed_condition()],
        ctx in context(),
    ) {
        run(&cond, &ctx)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn arbitrary_strings_never_panic(cond in prop_oneof![
        any::<String>(),
        "[ -~]{0,1100}",
        nested(),
    ], ctx in context()) {
        run(&cond, &ctx)?;
    }
}

fn rule_set() -> impl Strategy<Value = BTreeMap<String, SignUpRule>> {
    let action = prop_oneof![
        Just(ActionType::Allow),
        Just(ActionType::Reject),
        Just(ActionType::Restrict),
        Just(ActionType::Log),
    ];
    let rule = (
        proptest::option::of(any::<bool>()),
        prop_oneof![3 => 0i64..4, 1 => any::<i64>()],
        proptest::option::of(prop_oneof![
            4 => prop_oneof![
                Just("true"),
                Just("false"),
                Just("emailDomain == 'a.com'"),
                Just("email.matches('^(.)\\\\1')"),
                Just("riskScores.bot > 50"),
                Just("countryCode in ['US', 'DE']"),
                Just("email"),
                Just("email.matches('(')"),
                Just(""),
            ]
            .prop_map(str::to_owned),
            1 => condition(),
        ]),
        action,
    )
        .prop_map(|(enabled, priority, condition, type_)| SignUpRule {
            enabled,
            priority,
            condition,
            action: RuleAction {
                type_,
                message: None,
            },
            ..SignUpRule::default()
        });
    proptest::collection::btree_map("[a-zA-Z0-9_-]{1,4}", rule, 0..20)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(900))]

    #[test]
    fn outcome_follows_order_and_actions(
        rules in rule_set(),
        reject_by_default in any::<bool>(),
        ctx in context(),
    ) {
        let default = if reject_by_default { DefaultAction::Reject } else { DefaultAction::Allow };
        let start = Instant::now();
        let compiled = CompiledRules::compile(&rules, default);
        let e = compiled.evaluate(&ctx);
        prop_assert!(start.elapsed() < BOUND * 5, "{:?}", start.elapsed());
        prop_assert_eq!(&e, &compiled.evaluate(&ctx));

        // listed in order (priority desc), each rule once, as far as the deciding rule
        let listed: Vec<&str> = e.evaluations.iter().map(|r| r.rule_id.as_str()).collect();
        for pair in listed.windows(2) {
            prop_assert!(rules[pair[0]].priority >= rules[pair[1]].priority);
        }
        let mut unique = listed.clone();
        unique.sort_unstable();
        unique.dedup();
        prop_assert_eq!(unique.len(), listed.len());

        for r in &e.evaluations {
            let rule = &rules[&r.rule_id];
            prop_assert_eq!(r.enabled, rule.enabled != Some(false));
            if rule.enabled != Some(true) {
                prop_assert_eq!(r.status, RuleStatus::Disabled);
            } else if rule.condition.as_deref().unwrap_or("").is_empty() {
                prop_assert_eq!(r.status, RuleStatus::MissingCondition);
            }
        }

        let matched: Vec<(String, ActionType)> = e
            .evaluations
            .iter()
            .filter(|r| r.status == RuleStatus::Matched)
            .map(|r| (r.rule_id.clone(), r.action.type_))
            .collect();
        prop_assert_eq!(&e.outcome.matched, &matched);
        let first_restrict = matched
            .iter()
            .find(|(_, a)| *a == ActionType::Restrict)
            .map(|(id, _)| id.clone());
        prop_assert_eq!(&e.outcome.restricted_because_of_rule_id, &first_restrict);

        let deciding = matched
            .iter()
            .position(|(_, a)| matches!(a, ActionType::Allow | ActionType::Reject));
        match deciding {
            Some(i) => {
                prop_assert_eq!(i, matched.len() - 1);
                let (id, action) = &matched[i];
                prop_assert_eq!(Some(id), e.evaluations.last().map(|r| &r.rule_id));
                prop_assert_eq!(e.outcome.decision_rule_id.as_ref(), Some(id));
                let expected = if *action == ActionType::Allow { Decision::Allow } else { Decision::Reject };
                prop_assert_eq!(e.outcome.decision, expected);
            }
            None => {
                prop_assert_eq!(e.evaluations.len(), rules.len());
                prop_assert_eq!(e.outcome.decision_rule_id, None);
                let expected = if reject_by_default { Decision::DefaultReject } else { Decision::DefaultAllow };
                prop_assert_eq!(e.outcome.decision, expected);
            }
        }
        prop_assert_eq!(
            e.outcome.should_allow,
            matches!(e.outcome.decision, Decision::Allow | Decision::DefaultAllow)
        );
    }
}

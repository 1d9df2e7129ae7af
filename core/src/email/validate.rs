//! Email address validation (Stack's lenient and strict rules) and normalisation.

/// Trims surrounding whitespace and lowercases the whole address (no removal of dots or
/// `+tags`), as Stack normalises before storing and comparing.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

const LOCAL_SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";

/// The WHATWG "valid e-mail address" rule: used by sign-in, reset and user updates.
pub fn is_valid_email_lenient(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    if local.is_empty()
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
    {
        return false;
    }
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The strict rule used by password sign-up: lenient, at most 256 characters, no empty
/// dot-separated runs in the local part, and a last label of at least two characters
/// after a dot.
pub fn is_valid_email_strict(email: &str) -> bool {
    if email.chars().count() > 256 || !is_valid_email_lenient(email) {
        return false;
    }
    let (local, domain) = email.split_once('@').unwrap_or_default();
    if local.split('.').any(str::is_empty) {
        return false;
    }
    match domain.rsplit_once('.') {
        Some((_, tld)) => tld.chars().count() >= 2,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stack_examples() {
        for ok in [
            "a.b@example.com",
            "%!~&+{}=|`#@domain.test",
            "admin@a.longtldexample",
        ] {
            assert!(is_valid_email_strict(ok), "{ok}");
        }
        for bad in [
            "test@localhost",
            "test@gmail",
            "test@gmail.a",
            "test.@example.com",
            "test..test@example.com",
            ".test@example.com",
        ] {
            assert!(!is_valid_email_strict(bad), "{bad}");
        }
        assert!(is_valid_email_lenient("test@localhost"));
        assert!(!is_valid_email_lenient("no-at-sign"));
        assert!(!is_valid_email_lenient("a@-bad.com"));
        assert!(!is_valid_email_lenient("a b@example.com"));
        assert!(!is_valid_email_strict(&format!(
            "{}@example.com",
            "a".repeat(250)
        )));
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize_email("  Alice.Smith+x@Example.COM "),
            "alice.smith+x@example.com"
        );
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent_and_case_insensitive(s in "[ A-Za-z0-9.@+_-]{0,40}") {
            let n = normalize_email(&s);
            prop_assert_eq!(normalize_email(&n), n.clone());
            prop_assert_eq!(normalize_email(&s.to_uppercase()), n);
        }

        #[test]
        fn strict_implies_lenient(s in "[a-z.]{0,6}@[a-z.-]{0,10}") {
            if is_valid_email_strict(&s) { prop_assert!(is_valid_email_lenient(&s)); }
        }
    }
}

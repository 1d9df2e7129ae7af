//! The messages Postern sends, with Stack's subjects. Bodies carry the callback URL with the
//! code as its `code` query parameter, in the text part and as a link in the HTML part.

use super::Email;

/// `callback_url` with its `code` query parameter set to `code` (an existing `code`
/// parameter is replaced, other parameters and the fragment are kept).
///
/// ```
/// use postern_core::email::link_with_code;
/// assert_eq!(
///     link_with_code("http://localhost:3000/verify?code=old&x=1", "abc").unwrap(),
///     "http://localhost:3000/verify?x=1&code=abc"
/// );
/// assert!(link_with_code("not a url", "abc").is_none());
/// ```
pub fn link_with_code(callback_url: &str, code: &str) -> Option<String> {
    let mut url = url::Url::parse(callback_url).ok()?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "code")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("code", code);
    Some(url.into())
}

/// A value from a user or an admin (a project or team name, an address) made safe for a
/// subject line or a body: control characters (CR and LF included, so no header can be
/// injected) and bidirectional overrides (which can make a name read as something else)
/// are dropped.
///
/// ```
/// # use postern_core::email::clean;
/// assert_eq!(clean("Acme\r\nBcc: x@evil.example"), "AcmeBcc: x@evil.example");
/// assert_eq!(clean("a\u{202e}gnp.exe"), "agnp.exe");
/// ```
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !c.is_control() && !matches!(*c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
        })
        .collect()
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn link_mail(
    to: &str,
    project: &str,
    subject: String,
    intro: &str,
    action: &str,
    link: &str,
    outro: &str,
) -> Email {
    let text = format!("{subject}\n\n{intro}\n\n{action}: {link}\n\n{outro}\n");
    let html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
         <h1>{h}</h1><p>{i}</p>\
         <p><a href=\"{l}\">{a}</a></p>\
         <p style=\"color:#666\">{o}</p></body></html>",
        h = escape_html(&subject),
        i = escape_html(intro),
        l = escape_html(link),
        a = escape_html(action),
        o = escape_html(outro),
    );
    Email {
        to: to.to_owned(),
        from_name: project.to_owned(),
        subject,
        text,
        html,
    }
}

/// `Verify your email at {project}` with the verification link.
pub(crate) fn verification(project: &str, to: &str, link: &str) -> Email {
    let project = &clean(project);
    link_mail(
        to,
        project,
        format!("Verify your email at {project}"),
        &format!("Please verify your email address for {project}."),
        "Verify my email",
        link,
        "If you did not sign up, you can ignore this email.",
    )
}

/// `Reset your password at {project}` with the reset link.
pub(crate) fn password_reset(project: &str, to: &str, link: &str) -> Email {
    let project = &clean(project);
    link_mail(
        to,
        project,
        format!("Reset your password at {project}"),
        &format!("Someone asked to reset the password of your {project} account."),
        "Reset my password",
        link,
        "If you did not ask for this, you can ignore this email: your password stays as it is.",
    )
}

/// `You have been invited to join {team}` with the invitation link.
pub(crate) fn team_invitation(project: &str, team: &str, to: &str, link: &str) -> Email {
    let (project, team) = (&clean(project), &clean(team));
    link_mail(
        to,
        project,
        format!("You have been invited to join {team}"),
        &format!("You are invited to join the team {team} on {project}."),
        "Join team",
        link,
        "If you were not expecting this email, you can ignore it.",
    )
}

/// `Sign in to {project}: Your code is {OTP}` with the OTP and the magic link.
pub(crate) fn magic_link(project: &str, to: &str, link: &str, otp: &str) -> Email {
    let project = &clean(project);
    let subject = format!("Sign in to {project}: Your code is {otp}");
    let text = format!(
        "Sign in to {project}\n\nYour one-time password is: {otp}\n\nOr sign in with this link: {link}\n\nIf you were not expecting this email, you can ignore it.\n"
    );
    let html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
         <h1>Sign in to {p}</h1><p>Your one-time password is:</p>\
         <p style=\"font-size:24px;font-family:monospace;font-weight:bold\">{otp}</p>\
         <p>Or <a href=\"{l}\">sign in with this link</a>.</p>\
         <p style=\"color:#666\">If you were not expecting this email, you can ignore it.</p></body></html>",
        p = escape_html(project),
        otp = escape_html(otp),
        l = escape_html(link),
    );
    Email {
        to: to.to_owned(),
        from_name: project.to_owned(),
        subject,
        text,
        html,
    }
}

/// `Confirm it's you at {project}: Your code is {OTP}`: a step-up code, with a link when
/// the client gave a callback URL.
pub(crate) fn step_up_code(project: &str, to: &str, otp: &str, link: Option<&str>) -> Email {
    let project = &clean(project);
    let subject = format!("Confirm it's you at {project}: Your code is {otp}");
    let intro = format!(
        "Someone signed in to your {project} account is asking to make a sensitive change (a new sign-in address, a new password, or turning two-factor authentication off)."
    );
    let outro = "If this was not you, do not share this code, and change your password: someone may be using your account.";
    let link_text = link
        .map(|l| format!("\n\nOr confirm with this link: {l}"))
        .unwrap_or_default();
    let link_html = link
        .map(|l| {
            format!(
                "<p>Or <a href=\"{}\">confirm with this link</a>.</p>",
                escape_html(l)
            )
        })
        .unwrap_or_default();
    Email {
        to: to.to_owned(),
        from_name: project.to_owned(),
        text: format!("{subject}\n\n{intro}\n\nYour code is: {otp}{link_text}\n\n{outro}\n"),
        html: format!(
            "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
             <p>{i}</p><p style=\"font-size:24px;font-family:monospace;font-weight:bold\">{otp}</p>{link_html}\
             <p style=\"color:#666\">{o}</p></body></html>",
            i = escape_html(&intro),
            otp = escape_html(otp),
            o = escape_html(outro),
        ),
        subject,
    }
}

/// `Confirm a new sign-in address for {project}`: sent to the proven address when another
/// address is to become usable for sign-in.
pub(crate) fn channel_auth_confirmation(
    project: &str,
    to: &str,
    new_address: &str,
    link: &str,
) -> Email {
    let (project, new_address) = (&clean(project), &clean(new_address));
    link_mail(
        to,
        project,
        format!("Confirm a new sign-in address for {project}"),
        &format!(
            "Someone signed in to your {project} account asked to let {new_address} sign in to it too."
        ),
        "Yes, let this address sign in",
        link,
        "If this was not you, ignore this email and change your password: someone may be using your account.",
    )
}

/// A security change a user is told about, at the address they had before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The primary email changed to this address (empty: removed).
    EmailChanged(String),
    /// This address was removed from the account.
    EmailRemoved,
    /// The password was set or changed.
    PasswordChanged,
    /// TOTP was turned on.
    MfaEnabled,
    /// The TOTP secret was replaced.
    MfaChanged,
    /// TOTP was turned off.
    MfaDisabled,
}

/// A notice of a security change (no code, no link).
pub(crate) fn security_notice(project: &str, to: &str, notice: &Notice) -> Email {
    let project = &clean(project);
    let (subject, body) = match notice {
        Notice::EmailChanged(new) => (
            format!("Your email address at {project} was changed"),
            format!(
                "The email address of your {project} account was changed from {to} to {}.",
                clean(new)
            ),
        ),
        Notice::EmailRemoved => (
            format!("An email address was removed from your {project} account"),
            format!("The address {to} was removed from your {project} account."),
        ),
        Notice::PasswordChanged => (
            format!("Your password at {project} was changed"),
            format!("The password of your {project} account was changed."),
        ),
        Notice::MfaEnabled => (
            format!("Two-factor authentication was turned on at {project}"),
            format!("Two-factor authentication was turned on for your {project} account."),
        ),
        Notice::MfaChanged => (
            format!("Two-factor authentication was set up again at {project}"),
            format!(
                "A new authenticator was set up for your {project} account; the previous one and its recovery codes no longer work."
            ),
        ),
        Notice::MfaDisabled => (
            format!("Two-factor authentication was turned off at {project}"),
            format!("Two-factor authentication was turned off for your {project} account."),
        ),
    };
    let outro = "If you did not do this, reset your password now and contact support.";
    Email {
        to: to.to_owned(),
        from_name: project.to_owned(),
        text: format!("{subject}\n\n{body}\n\n{outro}\n"),
        html: format!(
            "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
             <h1>{h}</h1><p>{b}</p><p style=\"color:#666\">{o}</p></body></html>",
            h = escape_html(&subject),
            b = escape_html(&body),
            o = escape_html(outro),
        ),
        subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_link_and_escape_html() {
        let e = verification("A <b> & co", "x@example.com", "http://l/?a=1&code=zz");
        assert_eq!(e.subject, "Verify your email at A <b> & co");
        assert!(e.text.contains("http://l/?a=1&code=zz"));
        assert!(e.html.contains("A &lt;b&gt; &amp; co"));
        assert!(e.html.contains("http://l/?a=1&amp;code=zz"));
        assert!(!e.html.contains("<b>"));
        let r = password_reset("P", "x@example.com", "http://l/?code=q");
        assert_eq!(r.subject, "Reset your password at P");
        assert_eq!(r.from_name, "P");
    }

    #[test]
    fn magic_link_shows_the_otp_and_the_link() {
        let e = magic_link("P", "x@example.com", "http://l/?code=abcdef123", "ABCDEF");
        assert_eq!(e.subject, "Sign in to P: Your code is ABCDEF");
        assert!(e.html.contains(">ABCDEF</p>"));
        assert!(e.html.contains("abcdef123"));
        assert_eq!(e.text.matches("http://l/?code=abcdef123").count(), 1);
    }

    #[test]
    fn user_controlled_values_cannot_inject_headers() {
        let e = team_invitation(
            "P\r\nBcc: a@evil.example",
            "T\u{202e}eno",
            "x@example.com",
            "http://l/?code=q",
        );
        assert_eq!(e.subject, "You have been invited to join Teno");
        assert_eq!(e.from_name, "PBcc: a@evil.example");
        assert!(!e.text.contains('\r'));
        let n = security_notice(
            "P\n",
            "old@example.com",
            &Notice::EmailChanged("new\n@example.com".into()),
        );
        assert_eq!(n.subject, "Your email address at P was changed");
        assert!(n.text.contains("from old@example.com to new@example.com"));
    }

    #[test]
    fn links_replace_code_only() {
        assert_eq!(
            link_with_code("https://a.test/cb#frag", "c1").as_deref(),
            Some("https://a.test/cb?code=c1#frag")
        );
    }
}

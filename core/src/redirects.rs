//! Redirect / callback URL validation against a project's trusted domains.
//!
//! Every URL Postern mails a code to (verification, password reset, magic links, team
//! invitations, step-up confirmations) passes [`is_allowed_redirect`]. The URL is parsed
//! with the WHATWG rules browsers use (the `url` crate), and the decision is taken on the
//! parsed host, never on a prefix of the text:
//!
//! - only `http` and `https` URLs are accepted, never with userinfo (`user@host`), and
//!   never with a backslash, whitespace or a control character anywhere in the text;
//! - with `domains.allowLocalhost`, a loopback host is accepted: the name `localhost`, an
//!   IPv4 literal in `127.0.0.0/8`, or the IPv6 literal `::1`. Nothing else counts as
//!   loopback: `127.login.attacker.example`, `localhost.attacker.example`,
//!   `app.localhost`, `localhost.` and IPv4-mapped IPv6 (`::ffff:127.0.0.1`) are not;
//! - otherwise the URL must match a trusted domain (same scheme, host and port; `*` and `**`
//!   wildcards in the host).
//!
//! Upstream also accepts any `*.localhost` host and any host whose text starts with `127.`;
//! Postern does not.

use std::net::{IpAddr, Ipv6Addr};

use url::{Host, Url};

use crate::config::DomainsConfig;

/// Whether `candidate` may be used as a callback URL for a project with this config.
///
/// ```
/// use postern_core::{ProjectConfig, redirects::is_allowed_redirect};
/// let mut cfg = ProjectConfig::default();
/// assert!(is_allowed_redirect(&cfg.domains, "http://localhost:3000/handler"));
/// assert!(!is_allowed_redirect(&cfg.domains, "https://127.login.attacker.example/cb"));
/// cfg.domains.allow_localhost = false;
/// assert!(!is_allowed_redirect(&cfg.domains, "http://localhost:3000/handler"));
/// ```
pub fn is_allowed_redirect(domains: &DomainsConfig, candidate: &str) -> bool {
    is_allowed_redirect_with(domains, candidate, false)
}

/// [`is_allowed_redirect`], also taking `*.localhost` names as loopback when
/// `localhost_subdomains` is set (see
/// [`crate::PosternBuilder::localhost_subdomains_are_loopback`]).
///
/// ```
/// use postern_core::{ProjectConfig, redirects::is_allowed_redirect_with};
/// let cfg = ProjectConfig::default();
/// assert!(!is_allowed_redirect_with(&cfg.domains, "http://stack-test.localhost/cb", false));
/// assert!(is_allowed_redirect_with(&cfg.domains, "http://stack-test.localhost/cb", true));
/// assert!(!is_allowed_redirect_with(&cfg.domains, "http://localhost.attacker.example/cb", true));
/// ```
pub fn is_allowed_redirect_with(
    domains: &DomainsConfig,
    candidate: &str,
    localhost_subdomains: bool,
) -> bool {
    // Parsers disagree about backslashes and stray whitespace (browsers read `\` as `/`,
    // others as part of the authority): a callback that needs them is refused outright.
    if candidate
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let Ok(url) = Url::parse(candidate) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    let Some(host) = url.host() else {
        return false;
    };
    let subdomain = |h: &Host<&str>| {
        localhost_subdomains
            && matches!(h, Host::Domain(d) if d.len() > ".localhost".len()
                && d.to_ascii_lowercase().ends_with(".localhost")
                && !d.starts_with('.')
                && !d.contains(".."))
    };
    if domains.allow_localhost && (is_loopback(&host) || subdomain(&host)) {
        return true;
    }
    domains
        .trusted_domains
        .values()
        .filter_map(|d| d.base_url.as_deref())
        .any(|base| matches_base(base, &url))
}

/// Whether a parsed host is loopback: `localhost`, `127.0.0.0/8` or `::1`.
///
/// ```
/// use postern_core::redirects::is_loopback;
/// use url::Url;
/// let host = |u: &str| Url::parse(u).unwrap().host().unwrap().to_owned();
/// assert!(is_loopback(&host("http://127.5.6.7/")));
/// assert!(is_loopback(&host("http://[::1]/")));
/// assert!(!is_loopback(&host("http://127.attacker.example/")));
/// assert!(!is_loopback(&host("http://[::ffff:127.0.0.1]/")));
/// ```
pub fn is_loopback<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Domain(name) => name.as_ref().eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

fn matches_base(base: &str, url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default();
    if !base.contains('*') {
        let Ok(b) = Url::parse(base) else {
            return false;
        };
        return b.scheme() == url.scheme()
            && b.host_str() == Some(host)
            && b.port_or_known_default() == port;
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return false;
    };
    if scheme != url.scheme() {
        return false;
    }
    let pattern = rest.split('/').next().unwrap_or_default();
    let (candidate, pattern) = if pattern.contains(':') {
        (
            format!("{host}:{}", port.unwrap_or_default()),
            pattern.to_owned(),
        )
    } else {
        let default = match url.scheme() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        };
        if port != default {
            return false;
        }
        (host.to_owned(), pattern.to_owned())
    };
    wildcard_match(pattern.as_bytes(), candidate.as_bytes())
}

/// `*` matches any run without dots, `**` any run at all.
fn wildcard_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            (0..=s.len()).any(|i| wildcard_match(&p[2..], &s[i..]))
        }
        Some(b'*') => {
            let max = s.iter().position(|&c| c == b'.').unwrap_or(s.len());
            (0..=max).any(|i| wildcard_match(&p[1..], &s[i..]))
        }
        Some(c) => {
            s.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && wildcard_match(&p[1..], &s[1..])
        }
    }
}

/// Callback URLs for tests of every callback-taking endpoint (also used by Postern's own
/// HTTP contract suite). Not semver-stable.
#[cfg(any(test, feature = "conformance"))]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod examples {
    /// The trusted domains [`HOSTILE`] is written against.
    pub const TRUSTED_BASES: &[&str] = &[
        "https://app.example.com",
        "https://*.example.org",
        "https://**.example.net:8443",
    ];

    /// Hostile callback URLs: none may pass for a project trusting [`TRUSTED_BASES`], with
    /// or without localhost allowed.
    pub const HOSTILE: &[&str] = &[
        "https://127.login.attacker.example/cb",
        "http://127.0.0.1.attacker.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "https://localhost.attacker.example/cb",
        "http://localhost.attacker.example:3000/cb",
        "http://app.localhost/cb",
        "http://localhost./cb",
        "http://localhost@attacker.example/cb",
        "http://user:pass@localhost/cb",
        "http://localhost:pass@attacker.example/cb",
        "http://attacker.example\\@localhost/cb",
        "http://attacker.example\\localhost/cb",
        "http://localhost%2eattacker.example/cb",
        "http://127%2e0%2e0%2e1%2eattacker.example/cb",
        "http://xn--lcalhost-q9a/cb",
        "http://lоcalhost/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://[::ffff:7f00:1]/cb",
        "http://[::127.0.0.1]/cb",
        "http://0.0.0.0/cb",
        "http://[::]/cb",
        "http://10.0.0.1/cb",
        "http://128.0.0.1/cb",
        "javascript://localhost/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file://localhost/etc/passwd",
        "ftp://localhost/cb",
        "//localhost/cb",
        "localhost/cb",
        "",
        "https://app.example.com.attacker.example/cb",
        "https://app.example.com@attacker.example/cb",
        "https://attacker.example/app.example.com",
        "https://attacker.example/?https://app.example.com",
        "https://app.example.com./cb",
        "https://app-example.com/cb",
        "https://app.example.com:8443/cb",
        "http://app.example.com/cb",
        "https://a.b.example.org/cb",
        "https://example.org/cb",
        "https://attacker.example.org.evil/cb",
    ];

    /// Loopback URLs that are real loopback: accepted when localhost is allowed.
    pub const LOOPBACK: &[&str] = &[
        "http://localhost/cb",
        "http://localhost:3000/handler?x=1#f",
        "https://LOCALHOST:8443/cb",
        "http://127.0.0.1:8080/cb",
        "http://127.255.255.254/cb",
        "http://127.1/cb",
        "http://0x7f.0.0.1/cb",
        "http://2130706433/cb",
        "http://127%2e0%2e0%2e1/cb",
        "http://127.0.0.1./cb",
        "http://[::1]:3000/cb",
        "http://[0:0:0:0:0:0:0:1]/cb",
    ];
}

#[cfg(test)]
mod tests {
    use super::examples::{HOSTILE, LOOPBACK, TRUSTED_BASES};
    use super::*;
    use crate::config::TrustedDomain;

    fn domains(bases: &[&str]) -> DomainsConfig {
        let mut d = DomainsConfig {
            allow_localhost: false,
            ..Default::default()
        };
        for (i, b) in bases.iter().enumerate() {
            d.trusted_domains.insert(
                format!("d{i}"),
                TrustedDomain {
                    base_url: Some((*b).to_owned()),
                    ..Default::default()
                },
            );
        }
        d
    }

    #[test]
    fn hostile_urls_are_refused() {
        let mut d = domains(TRUSTED_BASES);
        d.allow_localhost = true;
        for url in HOSTILE {
            assert!(!is_allowed_redirect(&d, url), "{url} must be refused");
        }
        for url in LOOPBACK {
            assert!(is_allowed_redirect(&d, url), "{url} is loopback");
        }
        d.allow_localhost = false;
        for url in LOOPBACK {
            assert!(!is_allowed_redirect(&d, url), "{url}: localhost is off");
        }
    }

    #[test]
    fn trusted_domains_are_matched_on_the_parsed_host() {
        let d = domains(&["https://app.example.com", "http://*.example.org"]);
        assert!(is_allowed_redirect(&d, "https://APP.example.com/cb"));
        assert!(is_allowed_redirect(&d, "https://app.example.com:443/cb"));
        assert!(!is_allowed_redirect(&d, "https://u@app.example.com/cb"));
        assert!(is_allowed_redirect(&d, "http://x.example.org/cb"));
        assert!(!is_allowed_redirect(
            &d,
            "http://x.example.org.attacker.example/cb"
        ));
        assert!(!is_allowed_redirect(
            &d,
            "http://x.example.org\\@attacker.example/cb"
        ));
        assert!(!is_allowed_redirect(&d, "http://x.example.org/cb\\x"));
        assert!(!is_allowed_redirect(&d, "http://x.example.org/c b"));
        assert!(!is_allowed_redirect(&d, "http://x.example.org/cb\n"));
    }

    #[test]
    fn plain_and_wildcard_domains() {
        let d = domains(&[
            "https://app.example.com",
            "https://*.example.org",
            "https://**.example.net:8443",
        ]);
        assert!(is_allowed_redirect(&d, "https://app.example.com/x?y=1"));
        assert!(!is_allowed_redirect(&d, "http://app.example.com/x"));
        assert!(!is_allowed_redirect(&d, "https://app.example.com:444/x"));
        assert!(is_allowed_redirect(&d, "https://a.example.org/cb"));
        assert!(!is_allowed_redirect(&d, "https://a.b.example.org/cb"));
        assert!(is_allowed_redirect(&d, "https://a.b.example.net:8443/cb"));
        assert!(!is_allowed_redirect(&d, "https://a.b.example.net/cb"));
        assert!(!is_allowed_redirect(&d, "https://evil.com/app.example.com"));
        assert!(!is_allowed_redirect(&d, "not a url"));
        assert!(!is_allowed_redirect(&d, "http://localhost:3000"));
        let mut d = d;
        d.allow_localhost = true;
        assert!(is_allowed_redirect(&d, "http://localhost:3000"));
        assert!(is_allowed_redirect(&d, "http://127.0.0.1:3000"));
        assert!(!is_allowed_redirect(&d, "http://app.localhost"));
    }
}

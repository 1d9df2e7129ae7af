//! Redirect / callback URL validation against a project's trusted domains.

use url::Url;

use crate::config::DomainsConfig;

/// Whether `candidate` may be used as a callback URL for a project with this config.
///
/// ```
/// use postern_core::{ProjectConfig, redirects::is_allowed_redirect};
/// let mut cfg = ProjectConfig::default();
/// assert!(is_allowed_redirect(&cfg.domains, "http://localhost:3000/handler"));
/// cfg.domains.allow_localhost = false;
/// assert!(!is_allowed_redirect(&cfg.domains, "http://localhost:3000/handler"));
/// ```
pub fn is_allowed_redirect(domains: &DomainsConfig, candidate: &str) -> bool {
    let Ok(url) = Url::parse(candidate) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    if domains.allow_localhost && is_localhost(host) {
        return true;
    }
    domains
        .trusted_domains
        .values()
        .filter_map(|d| d.base_url.as_deref())
        .any(|base| matches_base(base, &url))
}

fn is_localhost(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.") && host.split('.').count() == 4
        || host == "[::1]"
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

#[cfg(test)]
mod tests {
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
        assert!(is_allowed_redirect(&d, "http://app.localhost"));
    }
}

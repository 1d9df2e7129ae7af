//! Password rules and hashing (argon2id, OWASP parameters) on a bounded blocking pool.
//!
//! Hashing costs ~15 ms of CPU and ~19 MiB of memory, so it never runs on the async
//! workers: it goes to tokio's blocking pool behind a semaphore that bounds how many hashes
//! run at once. Sign-in for an unknown email verifies against a dummy hash, so it costs the
//! same time as a wrong password.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{Error, PasswordRequirement, Result};

/// Stack's minimum password length (UTF-16 units) where a minimum applies.
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// Stack's maximum password length (UTF-16 units) on every password input.
pub const MAX_PASSWORD_LENGTH: usize = 70;

/// Password length as Stack measures it (UTF-16 code units, like a JavaScript string).
pub fn password_length(password: &str) -> usize {
    password.encode_utf16().count()
}

/// Checks the minimum and maximum length (`PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`).
pub fn check_password_rules(password: &str) -> Result<()> {
    let len = password_length(password);
    if len < MIN_PASSWORD_LENGTH {
        return Err(Error::PasswordRequirementsNotMet(
            PasswordRequirement::TooShort {
                min_length: MIN_PASSWORD_LENGTH,
            },
        ));
    }
    if len > MAX_PASSWORD_LENGTH {
        return Err(Error::PasswordRequirementsNotMet(
            PasswordRequirement::TooLong {
                max_length: MAX_PASSWORD_LENGTH,
            },
        ));
    }
    Ok(())
}

/// argon2id cost parameters.
///
/// ```
/// use postern_core::PasswordParams;
/// let owasp = PasswordParams::default();                 // m = 19 MiB, t = 2, p = 1
/// let stronger = PasswordParams { memory_kib: 65536, iterations: 3, parallelism: 4 };
/// let fast_for_tests = PasswordParams::insecure_fast();  // never in production
/// # let _ = (owasp, stronger, fast_for_tests);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordParams {
    /// Minimal cost, for test suites that hash thousands of passwords. Never in production.
    pub fn insecure_fast() -> Self {
        Self {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords on the blocking pool, at most `max_concurrent` at once.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Arc<Argon2<'static>>,
    params: PasswordParams,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<String>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with these parameters, running at most `max_concurrent` hashes at once.
    pub fn new(params: PasswordParams, max_concurrent: usize) -> Result<Self> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let dummy_hash = hash_with(&argon, &crate::secrets::random_crockford(32))?;
        Ok(Self {
            params,
            argon: Arc::new(argon),
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Hashes a password to a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let argon = self.argon.clone();
        let pw = password.to_owned();
        self.run(move || hash_with(&argon, &pw)).await
    }

    /// Verifies a password against a stored hash (argon2 PHC). `None` verifies against a
    /// dummy hash and returns false, costing the same time as a wrong password.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let argon = self.argon.clone();
        let pw = password.to_owned();
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => ((*self.dummy_hash).clone(), false),
        };
        let ok = self
            .run(move || Ok(verify_with(&argon, &pw, &hash)))
            .await?;
        Ok(ok && real)
    }

    /// Whether a stored hash should be replaced by one of this hasher after a successful
    /// sign-in: bcrypt, or argon2 that is not argon2id with these parameters.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        if bcrypt_cost(hash).is_some() {
            return true;
        }
        match argon2_params(hash) {
            Some((algorithm, p)) => {
                algorithm != "argon2id"
                    || (p.m_cost(), p.t_cost(), p.p_cost())
                        != (
                            self.params.memory_kib,
                            self.params.iterations,
                            self.params.parallelism,
                        )
            }
            None => false,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("password pool closed".into()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Internal(format!("password task: {e}")))?
    }
}

/// The highest bcrypt cost accepted on import: each step doubles the work of every
/// sign-in, so an imported hash cannot make sign-ins a denial of service.
pub const MAX_BCRYPT_COST: u32 = 14;

/// The cost of a bcrypt hash (`$2a$`, `$2b$`, `$2y$`), if `hash` is one.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$2a$")
        .or_else(|| hash.strip_prefix("$2b$"))
        .or_else(|| hash.strip_prefix("$2y$"))?;
    let (cost, tail) = rest.split_once('$')?;
    (hash.len() == 60 && cost.len() == 2 && tail.len() == 53)
        .then(|| cost.parse().ok())
        .flatten()
}

/// The most memory an imported argon2 hash may ask for: 64 MiB (each sign-in of its user
/// allocates it until the hash is replaced by Postern's own).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 65_536;
/// The most passes an imported argon2 hash may ask for.
pub const MAX_ARGON2_ITERATIONS: u32 = 10;
/// The most lanes an imported argon2 hash may ask for.
pub const MAX_ARGON2_PARALLELISM: u32 = 8;

/// The algorithm name and parameters of an argon2 PHC string.
fn argon2_params(hash: &str) -> Option<(String, Params)> {
    let parsed = PasswordHash::new(hash).ok()?;
    let algorithm = parsed.algorithm.as_str().to_owned();
    if !algorithm.starts_with("argon2") {
        return None;
    }
    Params::try_from(&parsed).ok().map(|p| (algorithm, p))
}

/// Whether argon2 parameters are within the import policy.
fn argon2_within_policy(p: &Params) -> bool {
    p.m_cost() <= MAX_ARGON2_MEMORY_KIB
        && p.t_cost() <= MAX_ARGON2_ITERATIONS
        && p.p_cost() <= MAX_ARGON2_PARALLELISM
}

/// Whether `hash` is a password hash Postern can verify and accepts on import: argon2 (PHC
/// string) within [`MAX_ARGON2_MEMORY_KIB`], [`MAX_ARGON2_ITERATIONS`] and
/// [`MAX_ARGON2_PARALLELISM`], or bcrypt (as Stack imports, cost at most
/// [`MAX_BCRYPT_COST`]). Either is replaced by Postern's own argon2id on the next sign-in.
///
/// ```
/// use postern_core::passwords::is_supported_hash;
/// let ok = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxMjM$h8zNQ0mOlGPjtlF8wqXUt8h8uZ0i5eJKn1Z0r7T7o5Q";
/// assert!(is_supported_hash(ok));
/// let greedy = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQxMjM$h8zNQ0mOlGPjtlF8wqXUt8h8uZ0i5eJKn1Z0r7T7o5Q";
/// assert!(!is_supported_hash(greedy), "4 GiB per sign-in is refused");
/// ```
pub fn is_supported_hash(hash: &str) -> bool {
    if let Some(cost) = bcrypt_cost(hash) {
        return (4..=MAX_BCRYPT_COST).contains(&cost);
    }
    argon2_params(hash).is_some_and(|(_, p)| argon2_within_policy(&p))
}

fn hash_with(argon: &Argon2<'static>, password: &str) -> Result<String> {
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2 hash: {e}")))
}

fn verify_with(argon: &Argon2<'static>, password: &str, hash: &str) -> bool {
    if let Some(cost) = bcrypt_cost(hash) {
        return cost <= MAX_BCRYPT_COST && bcrypt::verify(password, hash).unwrap_or(false);
    }
    match PasswordHash::new(hash) {
        // A stored hash beyond the import policy (written before it, or by hand) is not run:
        // it would let one sign-in take the server's memory.
        Ok(parsed)
            if Params::try_from(&parsed)
                .map(|p| argon2_within_policy(&p))
                .unwrap_or(false) =>
        {
            argon.verify_password(password.as_bytes(), &parsed).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn length_rules_count_utf16_units() {
        assert_eq!(password_length("abc"), 3);
        assert_eq!(password_length("😀"), 2);
        assert!(matches!(
            check_password_rules("1234567"),
            Err(Error::PasswordRequirementsNotMet(
                PasswordRequirement::TooShort { min_length: 8 }
            ))
        ));
        assert!(check_password_rules("12345678").is_ok());
        assert!(
            check_password_rules("😀😀😀😀").is_ok(),
            "4 emoji are 8 units"
        );
        assert!(check_password_rules(&"a".repeat(70)).is_ok());
        assert!(matches!(
            check_password_rules(&"a".repeat(71)),
            Err(Error::PasswordRequirementsNotMet(
                PasswordRequirement::TooLong { max_length: 70 }
            ))
        ));
        assert!(check_password_rules("").is_err());
    }

    proptest! {
        #[test]
        fn rules_agree_with_utf16_length(s in "\\PC{0,80}") {
            let n = s.encode_utf16().count();
            prop_assert_eq!(check_password_rules(&s).is_ok(), (8..=70).contains(&n));
        }
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(PasswordParams::insecure_fast(), 2).unwrap();
        let hash = h.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("correct horse"));
        assert!(is_supported_hash(&hash));
        assert!(h.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!h.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!h.verify("correct horse", None).await.unwrap());
        assert!(!h.verify("x", Some("not a hash")).await.unwrap());
        assert!(!is_supported_hash("$2b$10$abcdefghijklmnopqrstuv"));
        // Stack's e2e fixture: "hello-world" at cost 13; cost 17 is refused.
        let stack = "$2a$13$TVyY/gpw9Db/w1fBeJkCgeNg2Rae2JfNqrPnSAKtj.ufAO5cVF13.";
        assert!(is_supported_hash(stack) && h.needs_rehash(stack));
        assert!(!is_supported_hash(
            "$2a$17$VIhIOofSMqGdGlL4wzE//e.77dAQGqNtF/1dT7bqCrVtQuInWy2qi"
        ));
        let cheap = "$2b$04$UDgVpGQfqhc3hnH1fKpvWeIn6AVyxSS5MlXmW08J3VqcX6rsPW72C";
        assert!(is_supported_hash(cheap));
        assert!(!h.needs_rehash(&hash));
        let other = PasswordHasher::new(
            PasswordParams {
                memory_kib: 512,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        let other_hash = other.hash("correct horse").await.unwrap();
        assert!(h.needs_rehash(&other_hash), "other parameters are upgraded");
        assert!(h.verify("correct horse", Some(&other_hash)).await.unwrap());
        assert!(h.verify("hello-world", Some(stack)).await.unwrap());
        assert!(!h.verify("hello-world!", Some(stack)).await.unwrap());
    }

    #[test]
    fn default_params_are_owasp() {
        assert_eq!(
            PasswordParams::default(),
            PasswordParams {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }
}

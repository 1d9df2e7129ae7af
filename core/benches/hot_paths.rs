//! Criterion benchmarks of the hot paths that need no database: access-token verification
//! and signing, and argon2id password hashing with the default (OWASP) parameters.
//!
//! `cargo bench -p postern-core --bench hot_paths`

use criterion::{Criterion, criterion_group, criterion_main};
use postern_core::tokens::{AccessTokenClaims, KeyRing, TokenAudience};
use secrecy::SecretString;

fn claims() -> AccessTokenClaims {
    let now = 1_800_000_000;
    AccessTokenClaims {
        sub: uuid::Uuid::new_v4(),
        project_id: "bench".into(),
        branch_id: "main".into(),
        refresh_token_id: uuid::Uuid::new_v4(),
        role: "authenticated".into(),
        name: Some("Bench".into()),
        email: Some("bench@example.com".into()),
        email_verified: true,
        selected_team_id: None,
        signed_up_at: now,
        is_anonymous: false,
        is_restricted: false,
        restricted_reason: None,
        requires_totp_mfa: false,
        iss: TokenAudience::Normal.issuer("http://localhost:8102", "bench"),
        aud: TokenAudience::Normal.audience("bench"),
        iat: now,
        exp: now + 600,
    }
}

fn tokens(c: &mut Criterion) {
    let ring = KeyRing::new(
        SecretString::from("bench-secret-0123456789abcdef".to_owned()),
        vec![],
    );
    let cl = claims();
    let token = ring.sign(&cl).unwrap();
    c.bench_function("access_token_sign_es256", |b| {
        b.iter(|| ring.sign(&cl).unwrap())
    });
    c.bench_function("access_token_verify_es256", |b| {
        b.iter(|| {
            ring.verify(&token, "http://localhost:8102", 1_800_000_000_000)
                .unwrap()
        })
    });
}

fn passwords(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hasher =
        postern_core::PasswordHasher::new(postern_core::PasswordParams::default(), 1).unwrap();
    let hash = rt.block_on(hasher.hash("correct horse battery")).unwrap();
    let mut g = c.benchmark_group("argon2id_owasp");
    g.sample_size(20);
    g.bench_function("hash", |b| {
        b.iter(|| rt.block_on(hasher.hash("correct horse battery")).unwrap())
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            rt.block_on(hasher.verify("correct horse battery", Some(&hash)))
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, tokens, passwords);
criterion_main!(benches);

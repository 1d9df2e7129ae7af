//! What a passkey sign-in costs to verify: webauthn-rs's `finish_passkey_authentication`
//! (client data and authenticator data parsed and checked, SHA-256 of the client data, the
//! ES256 signature) on an assertion from a software authenticator, beside a bare ES256
//! verification of a 200-byte message with `p256`, in the same run.
//!
//! `cargo bench -p postern-tests --bench passkey_verify`

use criterion::{Criterion, criterion_group, criterion_main};
use p256::ecdsa::signature::{Signer, Verifier};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{Uuid, WebauthnBuilder};

fn bench(c: &mut Criterion) {
    let origin = Url::parse("http://localhost:3000").unwrap();
    let rp = WebauthnBuilder::new("localhost", &origin)
        .unwrap()
        .build()
        .unwrap();
    let mut authenticator = SoftPasskey::new(true);
    let (ccr, reg) = rp
        .start_passkey_registration(Uuid::new_v4(), "bench", "bench", None)
        .unwrap();
    let credential = authenticator.do_registration(origin.clone(), ccr).unwrap();
    let passkey = rp.finish_passkey_registration(&credential, &reg).unwrap();
    let (rcr, state) = rp.start_passkey_authentication(&[passkey]).unwrap();
    let assertion = authenticator.do_authentication(origin, rcr).unwrap();
    // The same state and assertion verify again and again (the stored counter is not
    // moved here), so each iteration is one whole verification.
    rp.finish_passkey_authentication(&assertion, &state)
        .expect("the assertion verifies");
    c.bench_function("passkey sign-in verification (webauthn-rs, ES256)", |b| {
        b.iter(|| {
            rp.finish_passkey_authentication(std::hint::black_box(&assertion), &state)
                .unwrap()
        })
    });

    let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let message = [42u8; 200];
    let signature: p256::ecdsa::Signature = key.sign(&message);
    let verifying = *key.verifying_key();
    c.bench_function("bare ES256 verify (p256)", |b| {
        b.iter(|| {
            verifying
                .verify(std::hint::black_box(&message), &signature)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

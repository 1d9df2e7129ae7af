//! The data vault.

use super::*;
use crate::rest::input::input;

/// Field check: a required key, once read, must not be empty.
fn non_empty(f: &mut Fields, key: &str, v: &impl Text) {
    // A missing key reads as "" but already failed with `must be defined`.
    if v.text() == Some("") && matches!(f.opt_str_raw(key), Some(Value::String(_))) {
        f.fail(key, "must not be empty");
    }
}

input! {
    /// `POST /data-vault/stores/{store_id}/set`: a value under a hashed key.
    pub(crate) struct VaultSet in Body {
        hashed_key: String => non_empty,
        encrypted_value: String,
    }
}

pub(crate) async fn set(rq: Rq<'_>, b: VaultSet) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    rq.p.vault()
        .set(
            &auth.project,
            rq.param("store_id"),
            &b.hashed_key,
            &b.encrypted_value,
        )
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

input! {
    /// `POST /data-vault/stores/{store_id}/get`: the hashed key to read.
    pub(crate) struct VaultGet in Body {
        hashed_key: String => non_empty,
    }
}

pub(crate) async fn get(rq: Rq<'_>, b: VaultGet) -> Result<Json<EncryptedValueView>> {
    let auth = rq.auth()?;
    let encrypted_value =
        rq.p.vault()
            .get(&auth.project, rq.param("store_id"), &b.hashed_key)
            .await?;
    Ok(Json::ok(EncryptedValueView { encrypted_value }))
}

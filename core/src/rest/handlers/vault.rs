//! The data vault.

use super::*;

pub(crate) fn vault_body(rq: &Rq<'_>, with_value: bool) -> Result<(String, Option<String>)> {
    let allowed: &[&str] = if with_value {
        &["hashed_key", "encrypted_value"]
    } else {
        &["hashed_key"]
    };
    let mut f = Fields::body(&rq.body, allowed);
    let key = f.req_str("hashed_key");
    if key.as_deref() == Some("") {
        f.fail("hashed_key", "must not be empty");
    }
    let value = if with_value {
        f.req_str("encrypted_value")
    } else {
        None
    };
    f.finish()?;
    Ok((key.unwrap_or_default(), value))
}

pub(crate) async fn set(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (key, value) = vault_body(&rq, true)?;
    rq.p.vault()
        .set(
            &auth.project,
            rq.param("store_id"),
            &key,
            &value.unwrap_or_default(),
        )
        .await?;
    Ok(json(StatusCode::OK, &json!({ "success": true })))
}

pub(crate) async fn get(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (key, _) = vault_body(&rq, false)?;
    let value =
        rq.p.vault()
            .get(&auth.project, rq.param("store_id"), &key)
            .await?;
    Ok(json(StatusCode::OK, &json!({ "encrypted_value": value })))
}

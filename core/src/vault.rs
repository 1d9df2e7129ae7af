//! The data vault (rest-org.md §5): the SDK encrypts values client-side and sends a hashed
//! key; the server stores the opaque value per (project, store, hashed key).
//!
//! At rest, without any cloud KMS: each value is sealed (AES-256-GCM) under a fresh random
//! data key, and the data key is sealed under the server's vault key (HKDF from the server
//! secret; previous secrets still open old entries). Both are bound to (project, store,
//! key), so an entry cannot be moved to another store or project. The hashed key itself is
//! kept only as an HMAC under the vault key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::{hex, open, seal};
use crate::storage::VaultEntryRecord;

fn binding(project: &str, store: &str, hashed_key: &str) -> Vec<u8> {
    [project.as_bytes(), store.as_bytes(), hashed_key.as_bytes()].join(&0u8)
}

fn key_hash(vault_key: &[u8; 32], binding: &[u8]) -> String {
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(vault_key).expect("any key length");
    mac.update(binding);
    hex(&mac.finalize().into_bytes())
}

/// Whether the project's config has the store (`dataVault.stores.<id>`).
pub fn store_exists(project: &Project, store_id: &str) -> bool {
    project.config.data_vault.stores.contains_key(store_id)
}

/// Data-vault operations; from [`Postern::vault`].
#[derive(Debug, Clone, Copy)]
pub struct Vault<'a> {
    p: &'a Postern,
}

impl Postern {
    /// The data vault.
    pub fn vault(&self) -> Vault<'_> {
        Vault { p: self }
    }
}

impl Vault<'_> {
    /// Stores (or replaces) the value under the hashed key.
    pub async fn set(
        &self,
        project: &Project,
        store_id: &str,
        hashed_key: &str,
        encrypted_value: &str,
    ) -> Result<()> {
        if !store_exists(project, store_id) {
            return Err(Error::DataVaultStoreDoesNotExist(store_id.to_owned()));
        }
        let bind = binding(&project.id, store_id, hashed_key);
        let master = &self.p.inner.vault_keys[0];
        let mut data_key = [0u8; 32];
        rand::fill(&mut data_key[..]);
        let sealed = seal(&data_key, &bind, encrypted_value.as_bytes())
            .ok_or_else(|| Error::Internal("sealing a vault value failed".into()))?;
        let wrapped = seal(master, &bind, &data_key)
            .ok_or_else(|| Error::Internal("wrapping a vault key failed".into()))?;
        data_key.fill(0);
        self.p
            .inner
            .store
            .vault()
            .upsert(&VaultEntryRecord {
                project_id: project.id.clone(),
                store_id: store_id.to_owned(),
                key_hash: key_hash(master, &bind),
                wrapped_key: B64.encode(wrapped),
                ciphertext: B64.encode(sealed),
                updated_at_millis: self.p.inner.clock.now_millis(),
            })
            .await?;
        Ok(())
    }

    /// The value stored under the hashed key.
    pub async fn get(&self, project: &Project, store_id: &str, hashed_key: &str) -> Result<String> {
        if !store_exists(project, store_id) {
            return Err(Error::DataVaultStoreDoesNotExist(store_id.to_owned()));
        }
        let bind = binding(&project.id, store_id, hashed_key);
        let missing = || Error::DataVaultStoreHashedKeyDoesNotExist {
            store_id: store_id.to_owned(),
            hashed_key: hashed_key.to_owned(),
        };
        // Entries written under a previous secret are found by that secret's key hash.
        for master in &self.p.inner.vault_keys {
            let Some(e) = self
                .p
                .inner
                .store
                .vault()
                .get(&project.id, store_id, &key_hash(master, &bind))
                .await?
            else {
                continue;
            };
            let corrupted =
                || Error::Internal(format!("vault entry of store {store_id} cannot be opened"));
            let wrapped = B64.decode(&e.wrapped_key).map_err(|_| corrupted())?;
            let mut data_key =
                open(std::slice::from_ref(master), &bind, &wrapped).ok_or_else(corrupted)?;
            let key: [u8; 32] = data_key.as_slice().try_into().map_err(|_| corrupted())?;
            data_key.fill(0);
            let sealed = B64.decode(&e.ciphertext).map_err(|_| corrupted())?;
            let plain = open(&[key], &bind, &sealed).ok_or_else(corrupted)?;
            return String::from_utf8(plain).map_err(|_| corrupted());
        }
        Err(missing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_separates_fields() {
        assert_ne!(binding("a", "bc", "d"), binding("ab", "c", "d"));
        let k = crate::secrets::vault_key(b"a server secret, long enough");
        assert_ne!(
            key_hash(&k, &binding("p", "s", "k")),
            key_hash(&k, &binding("p", "s2", "k"))
        );
        assert_eq!(key_hash(&k, &binding("p", "s", "k")).len(), 64);
    }
}

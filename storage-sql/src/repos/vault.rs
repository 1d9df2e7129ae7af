//! [`VaultRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{StoreResult, VaultEntryRecord, VaultRepo};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::OnConflict,
};

use super::SeaRepos;
use crate::entities::vault_entry as ve;
use crate::store_error;

#[async_trait]
impl<C: ConnectionTrait + Send> VaultRepo for SeaRepos<C> {
    async fn upsert(&self, e: &VaultEntryRecord) -> StoreResult<()> {
        let model = ve::ActiveModel {
            project_id: Set(e.project_id.clone()),
            store_id: Set(e.store_id.clone()),
            key_hash: Set(e.key_hash.clone()),
            wrapped_key: Set(e.wrapped_key.clone()),
            ciphertext: Set(e.ciphertext.clone()),
            updated_at: Set(e.updated_at_millis),
        };
        ve::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([
                    ve::Column::ProjectId,
                    ve::Column::StoreId,
                    ve::Column::KeyHash,
                ])
                .update_columns([
                    ve::Column::WrappedKey,
                    ve::Column::Ciphertext,
                    ve::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(
        &self,
        project_id: &str,
        store_id: &str,
        key_hash: &str,
    ) -> StoreResult<Option<VaultEntryRecord>> {
        Ok(ve::Entity::find()
            .filter(ve::Column::ProjectId.eq(project_id))
            .filter(ve::Column::StoreId.eq(store_id))
            .filter(ve::Column::KeyHash.eq(key_hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(|m| VaultEntryRecord {
                project_id: m.project_id,
                store_id: m.store_id,
                key_hash: m.key_hash,
                wrapped_key: m.wrapped_key,
                ciphertext: m.ciphertext,
                updated_at_millis: m.updated_at,
            }))
    }
}

//! [`FileRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{FileRecord, FileRepo, StoreResult};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::file;
use crate::store_error;

#[async_trait]
impl<C: ConnectionTrait + Send> FileRepo for SeaRepos<C> {
    async fn insert(&self, f: &FileRecord) -> StoreResult<()> {
        let model = file::ActiveModel {
            id: Set(f.id),
            project_id: Set(f.project_id.clone()),
            bucket: Set(f.bucket.clone()),
            content_type: Set(f.content_type.clone()),
            data: Set(f.data.clone()),
            created_at: Set(f.created_at_millis),
        };
        file::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, bucket: &str, id: Uuid) -> StoreResult<Option<FileRecord>> {
        Ok(file::Entity::find_by_id(id)
            .filter(file::Column::Bucket.eq(bucket))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(|m| FileRecord {
                project_id: m.project_id,
                id: m.id,
                bucket: m.bucket,
                content_type: m.content_type,
                data: m.data,
                created_at_millis: m.created_at,
            }))
    }

    async fn delete(&self, project_id: &str, bucket: &str, id: Uuid) -> StoreResult<bool> {
        let res = file::Entity::delete_many()
            .filter(file::Column::ProjectId.eq(project_id))
            .filter(file::Column::Bucket.eq(bucket))
            .filter(file::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }
}

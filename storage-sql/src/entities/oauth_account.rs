//! `postern_oauth_accounts`: users' accounts at OAuth providers.

use sea_orm::entity::prelude::*;

/// A provider account row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_oauth_accounts")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The user.
    pub user_id: Uuid,
    /// The provider's config id.
    pub provider_config_id: String,
    /// The account id at the provider.
    pub provider_account_id: String,
    /// The provider's address for the account.
    pub email: Option<String>,
    /// Signs the user in.
    pub allow_sign_in: bool,
    /// Handed out as a connected account.
    pub allow_connected_accounts: bool,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Clusters and groups: named on their own, or by the tasks that use them.

use cloudtask_shared::api::ErrorCode;
use cloudtask_shared::validate_name;

use super::{Error, Result, Service};
use crate::auth::Principal;
use crate::store::NameTable;

impl Service {
    /// Creates a cluster or group; a name that exists is [`ErrorCode::NameTaken`].
    pub async fn create_name(
        &self,
        who: &Principal,
        table: NameTable,
        name: &str,
        description: &str,
    ) -> Result<()> {
        validate_name("name", name)?;
        let kind = match table {
            NameTable::Clusters => "cluster",
            NameTable::Groups => "group",
        };
        let fx = Self::effects(who, &format!("{kind}.create"), name, description, vec![]);
        if !self.store.add_name(table, name, description, &fx).await? {
            return Err(Error::new(
                ErrorCode::NameTaken,
                format!("{kind} {name:?} already exists"),
            ));
        }
        Ok(())
    }

    /// Removes a group without tasks.
    pub async fn remove_group(&self, who: &Principal, name: &str) -> Result<()> {
        let fx = Self::effects(who, "group.delete", name, "", vec![]);
        if !self.store.remove_name(NameTable::Groups, name, &fx).await? {
            return Err(Error::new(
                ErrorCode::GroupNotFound,
                format!("no group {name:?}"),
            ));
        }
        Ok(())
    }
}

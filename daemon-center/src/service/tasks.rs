//! Task operations: create, edit (merge patch, pause/resume, a new package), clone, delete.

use cloudtask_shared::api::{ErrorCode, Event, PackageInfo};
use cloudtask_shared::{PackageRef, Task, TaskSpec};
use jiff::Timestamp;

use super::{Error, Result, Service, new_id, permit};
use crate::auth::Principal;
use crate::auth::policy::Action;

impl Service {
    /// Finds a task by id, or by name (within `group` when given).
    pub async fn resolve(&self, key: &str, group: Option<&str>) -> Result<Task> {
        if let Some(t) = self.store.task(key).await? {
            return Ok(t);
        }
        let mut found = self.store.tasks_named(key, group).await?;
        match found.len() {
            0 => Err(Error::new(
                ErrorCode::TaskNotFound,
                match group {
                    Some(g) => format!("no task {key:?} in group {g:?}"),
                    None => format!("no task {key:?}"),
                },
            )),
            1 => Ok(found.remove(0)),
            _ => {
                let groups: Vec<&str> = found.iter().map(|t| t.spec.group.as_str()).collect();
                Err(Error::new(
                    ErrorCode::AmbiguousName,
                    format!(
                        "task name {key:?} is used in groups {}: name the group",
                        groups.join(", ")
                    ),
                ))
            }
        }
    }

    async fn check_package(&self, spec: &TaskSpec) -> Result<()> {
        if let Some(p) = &spec.package
            && !self.store.package_exists(&p.sha256).await?
        {
            return Err(Error::new(
                ErrorCode::InvalidField,
                format!(
                    "package.sha256: no uploaded package has sha256 {}",
                    p.sha256
                ),
            ));
        }
        Ok(())
    }

    /// Refuses webhook recipients off the center's allow-list (new ones only: a list the
    /// admin narrowed later does not lock a task's other edits; delivery checks again).
    async fn check_recipients(&self, spec: &TaskSpec, before: Option<&TaskSpec>) -> Result<()> {
        for (i, to) in spec.alerts.notify.iter().enumerate() {
            let known = before.is_some_and(|b| b.alerts.notify.contains(to));
            let bad =
                |e: String| Error::new(ErrorCode::InvalidField, format!("alerts.notify[{i}]: {e}"));
            match (known, cloudtask_shared::Recipient::parse(to)) {
                (false, Ok(cloudtask_shared::Recipient::Webhook(url))) => {
                    self.alerts.allow.check_url(&url).map_err(bad)?;
                }
                (false, Ok(cloudtask_shared::Recipient::User(name)))
                    if self.store.user(&name).await?.is_none() =>
                {
                    return Err(bad(format!("there is no user {name:?}")));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Stores a new task made of `spec` (`action`: `task.create`, `task.clone`).
    pub async fn create_task(
        &self,
        who: &Principal,
        mut spec: TaskSpec,
        action: &str,
    ) -> Result<Task> {
        permit(who, Action::Edit, &spec.group)?;
        spec.validate_fires()?;
        self.check_recipients(&spec, None).await?;
        seal_secrets(None, &mut spec)?;
        self.check_package(&spec).await?;
        let now = Timestamp::now();
        let task = Task {
            id: new_id()?,
            spec,
            version: 1,
            created_by: who.name.clone(),
            created_at: now,
            updated_by: who.name.clone(),
            updated_at: now,
        };
        let history = task.spec.package.as_ref().map(|p| history(p, who));
        let fx = Self::task_effects(
            who,
            action,
            None,
            Some(&task),
            &task.spec.name,
            vec![changed(&task)],
        );
        self.store.create_task(&task, history.as_ref(), &fx).await?;
        self.committed(true);
        Ok(task)
    }

    /// Clones `task` as `name` (in `group`, or the same group), secret values included: they
    /// are copied here, never through the caller.
    pub async fn clone_task(
        &self,
        who: &Principal,
        task: &Task,
        name: String,
        group: Option<String>,
    ) -> Result<Task> {
        let mut spec = task.spec.clone();
        spec.name = name;
        if let Some(g) = group {
            spec.group = g;
        }
        self.create_task(who, spec, "task.clone").await
    }

    /// Saves a changed spec as the next version, if nobody changed the task meanwhile.
    pub async fn update_task(
        &self,
        who: &Principal,
        mut task: Task,
        mut spec: TaskSpec,
        action: &str,
    ) -> Result<Task> {
        seal_secrets(Some(&task.spec), &mut spec)?;
        // A stored task that can never fire may still be paused or deleted; a changed schedule
        // must be able to fire.
        let when_changed = (&spec.schedules, &spec.timezone, spec.start_at, spec.end_at)
            != (
                &task.spec.schedules,
                &task.spec.timezone,
                task.spec.start_at,
                task.spec.end_at,
            );
        if spec.group != task.spec.group {
            permit(who, Action::Edit, &spec.group)?;
        }
        if when_changed {
            spec.validate_fires()?;
        } else {
            spec.validate()?;
        }
        self.check_recipients(&spec, Some(&task.spec)).await?;
        self.check_package(&spec).await?;
        let package_changed = spec.package != task.spec.package;
        let before = task.clone();
        task.spec = spec;
        task.version += 1;
        task.updated_by = who.name.clone();
        task.updated_at = Timestamp::now();
        let history = match (&task.spec.package, package_changed) {
            (Some(p), true) => Some(history(p, who)),
            _ => None,
        };
        let fx = Self::task_effects(
            who,
            action,
            Some(&before),
            Some(&task),
            &task.spec.name,
            vec![changed(&task)],
        );
        self.store.update_task(&task, history.as_ref(), &fx).await?;
        self.committed(true);
        Ok(task)
    }

    /// Applies a JSON merge patch (RFC 7386) of spec fields to the task at `version`.
    pub async fn patch_task(
        &self,
        who: &Principal,
        task: Task,
        version: u64,
        changes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Task> {
        if version != task.version {
            return Err(Error::new(
                ErrorCode::StaleVersion,
                format!(
                    "task {} is at version {}, the edit was based on version {version}: re-read it and edit again",
                    task.spec.name, task.version
                ),
            ));
        }
        let mut doc = serde_json::to_value(&task.spec).map_err(Error::internal)?;
        merge(&mut doc, serde_json::Value::Object(changes));
        let spec: TaskSpec = serde_json::from_value(doc)?;
        self.update_task(who, task, spec, "task.edit").await
    }

    /// Pauses or resumes; a task already so is returned unchanged (no new version).
    pub async fn set_paused(&self, who: &Principal, task: Task, paused: bool) -> Result<Task> {
        if task.spec.paused == paused {
            return Ok(task);
        }
        let mut spec = task.spec.clone();
        spec.paused = paused;
        let action = if paused { "task.pause" } else { "task.resume" };
        self.update_task(who, task, spec, action).await
    }

    /// Makes an uploaded package the task's package (a new version).
    pub async fn set_package(&self, who: &Principal, task: Task, p: PackageRef) -> Result<Task> {
        let mut spec = task.spec.clone();
        spec.package = Some(p);
        self.update_task(who, task, spec, "task.upload").await
    }

    /// Stops the task's active runs and deletes it with its runs, logs and history.
    pub async fn delete_task(&self, who: &Principal, task: &Task) -> Result<()> {
        let mut events = self.stop_events(task).await?.1;
        events.push(Event::TaskDeleted {
            id: task.id.clone(),
        });
        let fx = Self::task_effects(
            who,
            "task.delete",
            Some(task),
            None,
            &task.spec.name,
            events,
        );
        if !self.store.delete_task(&task.id, &fx).await? {
            return Err(Error::new(
                ErrorCode::TaskNotFound,
                format!("task {} was deleted meanwhile", task.spec.name),
            ));
        }
        self.committed(true);
        Ok(())
    }
}

/// Followers hear of the change without its secret values.
fn changed(task: &Task) -> Event {
    Event::TaskChanged {
        task: Box::new(Task {
            spec: task.spec.clone().redacted(),
            ..task.clone()
        }),
    }
}

/// Seals the secret values of `spec`: a new value gets a fresh salt and its fingerprint; one
/// sent as the fingerprint an answer showed keeps the value `old` has under it. A fingerprint
/// of any other value is refused: it cannot set a value the center never saw.
pub fn seal_secrets(old: Option<&TaskSpec>, spec: &mut TaskSpec) -> Result<()> {
    for (key, s) in spec.secret_env.iter_mut() {
        let refuse = |why: &str| {
            Error::new(
                ErrorCode::InvalidField,
                format!("secret_env.{key}: {why}; send the value itself (a string) to set it"),
            )
        };
        match &s.value {
            Some(_) if s.salt.is_empty() => {
                let mut salt = [0u8; 16];
                getrandom::fill(&mut salt).map_err(Error::internal)?;
                let salt = hex::encode(salt);
                let value = s.value.take().unwrap_or_default();
                s.sha256 = cloudtask_shared::Secret::fingerprint(&salt, &value);
                s.salt = salt;
                s.value = Some(value);
            }
            Some(_) if s.is_sealed() => {}
            Some(_) => return Err(refuse("the fingerprint given is not the value's")),
            None => {
                let kept = old
                    .and_then(|o| o.secret_env.get(key))
                    .filter(|o| o.salt == s.salt && o.sha256 == s.sha256 && o.value.is_some());
                match kept {
                    Some(o) => s.value.clone_from(&o.value),
                    None => return Err(refuse("the fingerprint given is not the current value's")),
                }
            }
        }
    }
    Ok(())
}

/// The history row of a package `who` gives a task now.
fn history(p: &PackageRef, who: &Principal) -> PackageInfo {
    PackageInfo {
        sha256: p.sha256.clone(),
        file_name: p.file_name.clone(),
        size: p.size,
        uploaded_at: Timestamp::now(),
        uploaded_by: who.name.clone(),
    }
}

fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

//! The center's domain operations, in one place every caller goes through: HTTP handlers
//! parse a request, call one operation here and format its answer; the allocator calls the
//! node-loss and retry bookkeeping. Each operation is one store transaction carrying its
//! [`Effects`] — the audit row and the events the [`outbox`] delivers after the commit — so
//! an operation is either whole or absent. The API's gate has checked the route's rule
//! before an operation runs; an operation whose group comes from its body (a new task, a
//! task moved or cloned to another group) checks that group here, before it writes
//! ([`permit`]).
//!
//! - [`tasks`]: create, edit, pause/resume, clone, delete, resolve a name.
//! - [`runs`]: request a run (manual start, lost-run retry: one sequence), stop runs,
//!   agents' reports, a lost node's runs.
//! - [`packages`]: receive an upload, make it a task's package.
//! - [`names`]: clusters and groups.
//! - [`nodes`]: join tokens, node credentials, screening a node's reports.
//! - [`tokens`]: API tokens for scripts.
//! - [`users`]: users, their passwords and grants, and refused requests' audit rows.
//! - [`alerts`]: incidents (list, acknowledge) and test messages.
//! - [`outbox`]: the dispatcher that delivers committed events, at least once.
//! - [`retention`]: what the center lets go (old runs and logs, audit rows, packages).

pub mod alerts;
pub mod names;
pub mod nodes;
pub mod outbox;
pub mod packages;
pub mod retention;
pub mod runs;
pub mod tasks;
pub mod tokens;
pub mod users;

use std::path::PathBuf;

use cloudtask_shared::ValidationError;
use cloudtask_shared::api::{ErrorCode, Event};
use jiff::Timestamp;

use crate::allocator::Placements;
use crate::auth::Principal;
use crate::auth::policy::{self, Action, Scope};
use crate::store::{self, AuditEntry, Effects, SharedStore};

/// A refused or failed operation: a code that names the problem (the HTTP status and the
/// CLI's exit code follow from it) and a message for the operator.
#[derive(Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    /// A failure that is not the caller's: the detail (database or file-system text) goes
    /// to the log under a fresh id, and the answer carries only that id, so an operator can
    /// find the line and a caller learns nothing of the center's insides.
    pub fn internal(m: impl std::fmt::Display) -> Error {
        let mut r = [0u8; 6];
        let id = match getrandom::fill(&mut r) {
            Ok(()) => hex::encode(r),
            Err(_) => format!("{:x}", Timestamp::now().as_microsecond()),
        };
        tracing::error!(error_id = %id, error = %m, "internal error");
        Self::new(
            ErrorCode::Internal,
            format!("internal error {id}: the center's log has the detail under error_id={id}"),
        )
    }
}

impl Error {
    /// The center's disk is full: nothing was written (a reporting agent keeps its reports
    /// and sends them again).
    pub fn storage_full() -> Error {
        Self::new(
            ErrorCode::StorageFull,
            "the center's disk is full: nothing was stored; free space in its data dir and retry",
        )
    }

    /// A file-system failure: a full disk gets its own code, anything else is internal.
    pub fn io(e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::StorageFull {
            tracing::error!(error = %e, "the center's disk is full");
            Self::storage_full()
        } else {
            Self::internal(e)
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NameTaken(m) => Error::new(ErrorCode::NameTaken, m),
            store::Error::StaleVersion(m) => Error::new(ErrorCode::StaleVersion, m),
            store::Error::InUse(m) => Error::new(ErrorCode::GroupNotEmpty, m),
            store::Error::Incomplete(m) => Error::new(ErrorCode::Busy, m),
            store::Error::Unavailable(m) => {
                tracing::error!(error = %m, "the store cannot be reached");
                Error::new(
                    ErrorCode::StoreUnavailable,
                    "the center cannot reach its store: retry once it is back",
                )
            }
            store::Error::Full(m) => {
                tracing::error!(error = %m, "the store's disk is full: writes are refused until space is freed");
                Error::storage_full()
            }
            other => Error::internal(other),
        }
    }
}

/// A body that does not parse: a field the API does not know gets its own code.
pub fn unparsable(text: String) -> Error {
    if text.contains("unknown field") {
        Error::new(ErrorCode::UnknownField, text)
    } else {
        Error::new(ErrorCode::InvalidRequest, text)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        unparsable(e.to_string())
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        let schedule = ["schedules", "timezone", "start_at", "end_at"]
            .iter()
            .any(|f| e.field == *f || e.field.starts_with(&format!("{f}[")));
        let code = if schedule {
            ErrorCode::InvalidSchedule
        } else {
            ErrorCode::InvalidField
        };
        Error::new(code, e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// What the operations need: the store, where tasks are placed, the outbox to kick after a
/// commit, and where package blobs live. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub store: SharedStore,
    pub placements: Placements,
    pub outbox: outbox::Kick,
    pub packages_dir: PathBuf,
    pub max_upload_bytes: u64,
    /// The longest an API token may last.
    pub max_token_ttl: std::time::Duration,
    /// Who hears about what: checks tasks' recipients, addresses `notify test`.
    pub alerts: std::sync::Arc<crate::alerts::Settings>,
    /// Wakes the alert deliverers.
    pub deliver: std::sync::Arc<tokio::sync::Notify>,
}

impl Service {
    /// Effects of an operation `who` asked for: its audit row and its events.
    fn effects(
        who: &Principal,
        action: &str,
        target: &str,
        detail: &str,
        events: Vec<Event>,
    ) -> Effects {
        Effects {
            audit: Some(AuditEntry {
                from: (!who.from.is_empty()).then(|| who.from.clone()),
                ..AuditEntry::new(Timestamp::now(), &who.name, action, target, detail)
            }),
            events,
            requests: Vec::new(),
            fence: None,
        }
    }

    /// The effects of a change to a task: its audit row says the task's group, the version
    /// before (`None`: created) and after (`None`: deleted, or unchanged), and the spec fields
    /// that changed.
    fn task_effects(
        who: &Principal,
        action: &str,
        before: Option<&cloudtask_shared::Task>,
        after: Option<&cloudtask_shared::Task>,
        detail: &str,
        events: Vec<Event>,
    ) -> Effects {
        let Some(task) = after.or(before) else {
            return Effects::events(events);
        };
        let mut fx = Self::effects(who, action, &task.id, detail, events);
        if let Some(a) = fx.audit.as_mut() {
            a.group = Some(task.spec.group.clone());
            a.version_before = before.map(|t| t.version);
            a.version_after = after.map(|t| t.version);
            if let (Some(b), Some(t)) = (before, after) {
                a.fields = b.spec.changed_fields(&t.spec);
            }
        }
        fx
    }

    /// After a commit: the outbox delivers now, and the allocator looks at tasks again.
    fn committed(&self, tasks_changed: bool) {
        self.outbox.kick();
        if tasks_changed {
            self.placements.wake.notify_one();
        }
    }
}

/// Refuses what the policy does not let `who` do in `group`.
pub fn permit(who: &Principal, action: Action, group: &str) -> Result<()> {
    policy::allows(who, action, Scope::Group(group))
        .map_err(|policy::Denied(m)| Error::new(ErrorCode::Forbidden, m))
}

/// Refuses what the policy does not let `who` do in every group.
pub fn permit_everywhere(who: &Principal, action: Action) -> Result<()> {
    policy::allows(who, action, Scope::AllGroups)
        .map_err(|policy::Denied(m)| Error::new(ErrorCode::Forbidden, m))
}

/// A random id: creation time in hex, then 40 random bits.
pub fn new_id() -> Result<String> {
    let mut r = [0u8; 5];
    getrandom::fill(&mut r).map_err(Error::internal)?;
    Ok(format!(
        "{:011x}{}",
        Timestamp::now().as_millisecond(),
        hex::encode(r)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_answers_an_id_and_never_the_detail() {
        let a = Error::internal("disk I/O error: /var/lib/cloudtask/cloudtask.db");
        let b = Error::internal("disk I/O error: /var/lib/cloudtask/cloudtask.db");
        assert_eq!(a.code, ErrorCode::Internal);
        for e in [&a, &b] {
            assert!(!e.message.contains("/var/lib"), "{}", e.message);
            assert!(e.message.contains("error_id="), "{}", e.message);
        }
        assert_ne!(a.message, b.message, "each failure has its own id");
    }
}

//! The one function that decides what a caller may do: [`allows`], from the principal, the
//! action a route declares (in [`crate::api`]'s route table) and the group of what it acts
//! on. Roles nest: each may do what the roles below it may.

use cloudtask_shared::api::Role;

use super::{Principal, Who};

/// What a route does, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read tasks, their runs, logs and packages, and follow their events.
    Read,
    /// Run now, stop, pause, resume.
    Operate,
    /// Create, edit, clone and delete tasks; upload packages.
    Edit,
    /// Cluster-wide reads (nodes, clusters, groups): any role.
    ReadCluster,
    /// Users, clusters, groups, join tokens, the audit log.
    Administer,
    /// An agent's reports (runs, live output, active runs).
    Report,
    /// Anything an authenticated caller may do about itself (who am I, log out).
    Authenticated,
    /// Make, list and revoke one's own API tokens: users with any role.
    OwnTokens,
    /// Ask for a node credential: join tokens only.
    Join,
}

impl Action {
    /// The least role that may do it, for users and their tokens (`None`: no role may).
    fn least_role(self) -> Option<Role> {
        match self {
            Action::Read | Action::ReadCluster => Some(Role::Viewer),
            Action::Operate => Some(Role::Operator),
            Action::Edit => Some(Role::Editor),
            Action::Administer => Some(Role::Admin),
            Action::Report | Action::Join => None,
            Action::Authenticated | Action::OwnTokens => Some(Role::Viewer),
        }
    }

    /// What the action is, for a refusal.
    fn describe(self) -> &'static str {
        match self {
            Action::Read => "read tasks, runs and logs",
            Action::Operate => "run, stop, pause or resume tasks",
            Action::Edit => "create, edit or delete tasks and upload packages",
            Action::ReadCluster => "read nodes, clusters and groups",
            Action::Administer => "administer users, clusters, groups and tokens",
            Action::Report => "report runs",
            Action::Authenticated => "call the API",
            Action::OwnTokens => "manage API tokens",
            Action::Join => "join a cluster as a node",
        }
    }
}

/// Where an action applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// In this group.
    Group(&'a str),
    /// In at least one group (a listing the handler filters, a body whose group the service
    /// checks in turn).
    AnyGroup,
    /// In every group (what belongs to no group, such as a package no task has had).
    AllGroups,
    /// What the calling node holds now (a task placed on it, a package of such a task): the
    /// gate found so in the placement history. Only nodes act in it; to a user it is a task
    /// whose group the gate did not resolve, so it is refused.
    Held,
}

/// A refusal: what was missing, said so that the caller knows what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// Decides: Ok when `p` may do `action` in `scope`.
pub fn allows(p: &Principal, action: Action, scope: Scope<'_>) -> Result<(), Denied> {
    if action == Action::Authenticated {
        return Ok(());
    }
    match &p.who {
        // A node reads the specs and packages of the tasks placed on it, follows its own
        // commands and reports its own runs (the handlers check that it speaks for itself);
        // nothing else.
        Who::Node { .. } => {
            return match (action, scope) {
                (Action::Report, _) | (Action::Read, Scope::Held) => Ok(()),
                (Action::Read, _) => Err(Denied(format!(
                    "forbidden: {} may read only what is placed on it, and this is not",
                    p.name
                ))),
                _ => Err(Denied(format!(
                    "forbidden: {} is a node's credential and may not {}",
                    p.name,
                    action.describe()
                ))),
            };
        }
        Who::Joiner { .. } => {
            return match action {
                Action::Join => Ok(()),
                _ => Err(Denied(format!(
                    "forbidden: {} is a join token: it may only join a node, not {}",
                    p.name,
                    action.describe()
                ))),
            };
        }
        _ if action == Action::Join => {
            return Err(Denied(format!(
                "forbidden: only a join token may {}; {} is not one",
                action.describe(),
                p.name
            )));
        }
        _ => {}
    }
    // Any role, in any group, reads what is cluster-wide.
    let scope = if matches!(action, Action::ReadCluster | Action::OwnTokens) {
        Scope::AnyGroup
    } else {
        scope
    };
    let Some(least) = action.least_role() else {
        return Err(Denied(format!(
            "forbidden: only nodes may {}; {} is not one",
            action.describe(),
            p.name
        )));
    };
    let ok = p.grants.iter().any(|g| {
        g.role >= least
            && match (scope, &g.group) {
                (_, None) => true,
                (Scope::Group(want), Some(have)) => want == have,
                (Scope::AnyGroup, Some(_)) => true,
                (Scope::AllGroups | Scope::Held, Some(_)) => false,
            }
    });
    if ok {
        return Ok(());
    }
    let needed = match (action, scope) {
        (Action::Administer, _) => "the admin role".to_string(),
        (Action::ReadCluster | Action::OwnTokens, _) => "a role".to_string(),
        (_, Scope::Group(g)) => format!("the {least} role in group {g:?}"),
        (_, Scope::AnyGroup) => format!("the {least} role in some group"),
        (_, Scope::AllGroups | Scope::Held) => format!("the {least} role in all groups"),
    };
    let has = if p.grants.is_empty() {
        "no role".to_string()
    } else {
        p.grants
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Denied(format!(
        "forbidden: {} needs {needed} to {} (has {has})",
        p.name,
        action.describe()
    )))
}

/// Whether `p` speaks for `node`: a node's credential for its own name only. (Users never
/// report.)
pub fn speaks_for(p: &Principal, node: &str) -> Result<(), Denied> {
    match p.node_of() {
        Some((name, _)) if name == node => Ok(()),
        _ => Err(Denied(format!(
            "forbidden: {} may not speak for node {node:?}",
            p.name
        ))),
    }
}

/// Whether `p` may read what is in `group`: what listings and event streams filter by.
pub fn may_read(p: &Principal, group: &str) -> bool {
    allows(p, Action::Read, Scope::Group(group)).is_ok()
}

#[cfg(test)]
mod tests {
    use cloudtask_shared::api::Grant;

    use super::*;

    fn user(grants: &[(Role, Option<&str>)]) -> Principal {
        Principal::user(
            "u",
            grants
                .iter()
                .map(|(role, group)| Grant {
                    role: *role,
                    group: group.map(str::to_string),
                })
                .collect(),
        )
    }

    #[test]
    fn roles_nest_and_groups_bind() {
        let editor = user(&[(Role::Editor, Some("ops"))]);
        for a in [Action::Read, Action::Operate, Action::Edit] {
            assert!(allows(&editor, a, Scope::Group("ops")).is_ok(), "{a:?}");
            let no = allows(&editor, a, Scope::Group("web")).unwrap_err();
            assert!(no.0.starts_with("forbidden: u needs the"), "{}", no.0);
            assert!(no.0.contains("in group \"web\""), "{}", no.0);
            assert!(no.0.contains("has editor in ops"), "{}", no.0);
        }
        assert!(allows(&editor, Action::Edit, Scope::AnyGroup).is_ok());
        assert!(allows(&editor, Action::Read, Scope::AllGroups).is_err());
        assert!(allows(&editor, Action::Administer, Scope::AllGroups).is_err());
        assert!(allows(&editor, Action::ReadCluster, Scope::AllGroups).is_ok());

        let viewer = user(&[(Role::Viewer, None)]);
        assert!(allows(&viewer, Action::Read, Scope::Group("any")).is_ok());
        assert!(allows(&viewer, Action::Operate, Scope::Group("any")).is_err());

        let admin = user(&[(Role::Admin, None)]);
        for a in [
            Action::Read,
            Action::Operate,
            Action::Edit,
            Action::Administer,
            Action::ReadCluster,
        ] {
            assert!(allows(&admin, a, Scope::AllGroups).is_ok(), "{a:?}");
        }
        assert!(allows(&admin, Action::Report, Scope::AllGroups).is_err());
    }

    #[test]
    fn nobody_without_a_role_reads_the_cluster() {
        let none = user(&[]);
        let no = allows(&none, Action::ReadCluster, Scope::AllGroups).unwrap_err();
        assert!(no.0.contains("needs a role"), "{}", no.0);
        assert!(no.0.contains("has no role"), "{}", no.0);
        assert!(allows(&none, Action::Authenticated, Scope::AllGroups).is_ok());
    }

    #[test]
    fn a_node_reads_what_it_holds_reports_for_itself_and_nothing_else() {
        let node = Principal::node("n1", "prod");
        assert!(allows(&node, Action::Read, Scope::Held).is_ok());
        let no = allows(&node, Action::Read, Scope::Group("g")).unwrap_err();
        assert!(no.0.contains("only what is placed on it"), "{}", no.0);
        assert!(allows(&node, Action::Report, Scope::AllGroups).is_ok());
        assert!(speaks_for(&node, "n1").is_ok());
        assert!(speaks_for(&node, "n2").is_err());
        for a in [
            Action::Operate,
            Action::Edit,
            Action::Administer,
            Action::ReadCluster,
            Action::Join,
        ] {
            assert!(allows(&node, a, Scope::Held).is_err(), "{a:?}");
        }
        // Users never act in what a node holds, nor speak for a node.
        let admin = user(&[(Role::Admin, None)]);
        assert!(allows(&admin, Action::Read, Scope::Held).is_ok());
        assert!(speaks_for(&admin, "n1").is_err());
        let viewer = user(&[(Role::Viewer, Some("ops"))]);
        assert!(allows(&viewer, Action::Read, Scope::Held).is_err());
    }

    #[test]
    fn a_join_token_joins_and_does_nothing_else() {
        let join = Principal {
            who: Who::Joiner {
                token: "rack-4".into(),
                cluster: None,
            },
            name: "join:rack-4".into(),
            grants: Vec::new(),
            token_hash: None,
            expires_at: None,
            from: String::new(),
        };
        assert!(allows(&join, Action::Join, Scope::AllGroups).is_ok());
        for a in [
            Action::Read,
            Action::Report,
            Action::ReadCluster,
            Action::OwnTokens,
            Action::Administer,
        ] {
            let no = allows(&join, a, Scope::AllGroups).unwrap_err();
            assert!(no.0.contains("is a join token"), "{}", no.0);
        }
        let admin = user(&[(Role::Admin, None)]);
        assert!(allows(&admin, Action::Join, Scope::AllGroups).is_err());
    }
}

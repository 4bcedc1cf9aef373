//! Which user a run executes as: the task's `run_as`, the node's default, the allow-list, and
//! the rule that root runs nothing as root unless told to.
//!
//! An agent started as root switches user in the child (through [`crate::spawner`]); an agent
//! started as an ordinary user runs everything as itself and refuses a task that names
//! another user. Users are looked up once, at start: a name that does not exist is an error
//! then, not a failed run at 3 a.m.

use std::collections::HashMap;
use std::sync::Arc;

/// A user runs may execute as, resolved from the passwd and group databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's primary group included).
    pub groups: Vec<u32>,
}

/// The node's run-as settings as given (`--run-as`, `--allow-run-as`, `--allow-root-runs`).
#[derive(Debug, Clone, Default)]
pub struct RunAsConfig {
    /// The user of runs whose task names none.
    pub default: Option<String>,
    /// Further users a task may name.
    pub allowed: Vec<String>,
    /// Whether an agent running as root may run tasks as root.
    pub allow_root: bool,
}

/// The run-as flags, shared by `cloudtask-agent` and `cloudtask-center --standalone`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunAsArgs {
    /// The user runs execute as when their task names none (run_as). An agent started as
    /// root switches to it in each run's process.
    #[arg(long, env = "CLOUDTASK_RUN_AS", value_name = "USER")]
    pub run_as: Option<String>,
    /// A further user a task may name in run_as (repeatable).
    #[arg(long = "allow-run-as", value_name = "USER")]
    pub allow_run_as: Vec<String>,
    /// Lets an agent started as root run tasks as root (a task naming no user, with no
    /// --run-as, or naming root). Without it such runs are refused.
    #[arg(long, env = "CLOUDTASK_ALLOW_ROOT_RUNS")]
    pub allow_root_runs: bool,
}

impl RunAsArgs {
    /// Resolves the flags, starting the spawner from this binary when runs will switch users.
    pub fn resolve(&self) -> Result<RunAs, UsersError> {
        RunAs::resolve(
            &RunAsConfig {
                default: self.run_as.clone(),
                allowed: self.allow_run_as.clone(),
                allow_root: self.allow_root_runs,
            },
            std::env::current_exe().ok(),
        )
    }
}

/// Why the run-as settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("--run-as/--allow-run-as: user {0:?} does not exist on this node")]
    Unknown(String),
    #[error("looking up user {name:?}: {source}")]
    Lookup { name: String, source: nix::Error },
    #[error(
        "--run-as/--allow-run-as: user {wanted:?}: this process runs as {me:?}, and only one started as root can run tasks as another user"
    )]
    CannotSwitch { wanted: String, me: String },
    #[error("--run-as/--allow-run-as: user {0:?} is root; runs as root need --allow-root-runs")]
    Root(String),
    #[error("switching users is supported on Linux only")]
    Unsupported,
    #[error("starting the spawner: {0}")]
    Spawner(std::io::Error),
}

/// A run that executes as another user than the agent's: whom, and who starts it.
#[derive(Debug, Clone)]
pub struct Switch {
    pub user: Arc<RunUser>,
    #[cfg(target_os = "linux")]
    pub spawner: Arc<crate::spawner::Spawner>,
}

/// The resolved policy: decides, per task, whether and to whom a run switches.
#[derive(Debug)]
pub struct RunAs {
    /// The agent's own user.
    me: RunUser,
    default: Option<Arc<RunUser>>,
    allowed: HashMap<String, Arc<RunUser>>,
    allow_root: bool,
    #[cfg(target_os = "linux")]
    spawner: Option<Arc<crate::spawner::Spawner>>,
}

fn lookup(name: &str) -> Result<RunUser, UsersError> {
    let lookup_err = |source| UsersError::Lookup {
        name: name.to_string(),
        source,
    };
    let user = nix::unistd::User::from_name(name)
        .map_err(lookup_err)?
        .ok_or_else(|| UsersError::Unknown(name.to_string()))?;
    let groups = groups_of(&user).map_err(lookup_err)?;
    Ok(RunUser {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups,
    })
}

#[cfg(target_os = "linux")]
fn groups_of(user: &nix::unistd::User) -> nix::Result<Vec<u32>> {
    let name = std::ffi::CString::new(user.name.as_str()).map_err(|_| nix::Error::EINVAL)?;
    Ok(nix::unistd::getgrouplist(&name, user.gid)?
        .into_iter()
        .map(|g| g.as_raw())
        .collect())
}

#[cfg(not(target_os = "linux"))]
fn groups_of(user: &nix::unistd::User) -> nix::Result<Vec<u32>> {
    Ok(vec![user.gid.as_raw()])
}

/// The user this process runs as.
fn current() -> RunUser {
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    RunUser {
        name,
        uid: uid.as_raw(),
        gid: gid.as_raw(),
        groups: vec![gid.as_raw()],
    }
}

impl RunAs {
    /// Looks the configured users up and, when runs will switch users, starts the spawner
    /// from `exe` (this daemon's binary).
    pub fn resolve(
        cfg: &RunAsConfig,
        exe: Option<std::path::PathBuf>,
    ) -> Result<RunAs, UsersError> {
        let me = current();
        let root = me.uid == 0;
        let mut allowed = HashMap::new();
        let mut default = None;
        let names = cfg.default.iter().chain(cfg.allowed.iter());
        for (i, name) in names.enumerate() {
            let user = lookup(name)?;
            if user.uid == 0 && !cfg.allow_root {
                return Err(UsersError::Root(name.clone()));
            }
            if !root && user.uid != me.uid {
                return Err(UsersError::CannotSwitch {
                    wanted: name.clone(),
                    me: me.name.clone(),
                });
            }
            let user = Arc::new(user);
            if i == 0 && cfg.default.is_some() {
                default = Some(user.clone());
            }
            allowed.insert(user.name.clone(), user);
        }
        let switches = root && allowed.values().any(|u| u.uid != 0);
        #[cfg(target_os = "linux")]
        let spawner = match (switches, exe) {
            (true, Some(exe)) => Some(Arc::new(
                crate::spawner::Spawner::start(exe).map_err(UsersError::Spawner)?,
            )),
            (true, None) => {
                return Err(UsersError::Spawner(std::io::Error::other(
                    "no binary to start it from",
                )));
            }
            (false, _) => None,
        };
        #[cfg(not(target_os = "linux"))]
        if switches {
            let _ = exe;
            return Err(UsersError::Unsupported);
        }
        Ok(RunAs {
            me,
            default,
            allowed,
            allow_root: cfg.allow_root,
            #[cfg(target_os = "linux")]
            spawner,
        })
    }

    /// Runs as the agent's own user, and as root when that is root (tests, and embedders
    /// that decide this themselves).
    pub fn as_agent() -> RunAs {
        RunAs {
            me: current(),
            default: None,
            allowed: HashMap::new(),
            allow_root: true,
            #[cfg(target_os = "linux")]
            spawner: None,
        }
    }

    /// Whether any run may execute as another user than the agent's (its data dir must then
    /// let runs reach their package and work directories).
    pub fn switches(&self) -> bool {
        self.allowed.values().any(|u| u.uid != self.me.uid)
    }

    /// The users runs may execute as, by name (for the work directory's owner).
    pub fn user(&self, wanted: Option<&str>) -> Result<Option<Switch>, String> {
        let name = wanted.or(self.default.as_deref().map(|u| u.name.as_str()));
        let Some(name) = name else {
            return if self.me.uid != 0 || self.allow_root {
                Ok(None)
            } else {
                Err("refused: this node's agent runs as root, the task names no user (run_as) and the agent has no default (--run-as); runs as root need --allow-root-runs".to_string())
            };
        };
        if name == self.me.name {
            return if self.me.uid != 0 || self.allow_root {
                Ok(None)
            } else {
                Err(format!(
                    "refused: run_as {name:?} is root; runs as root need --allow-root-runs on the node"
                ))
            };
        }
        let Some(user) = self.allowed.get(name) else {
            return Err(if self.me.uid == 0 {
                format!(
                    "refused: run_as {name:?} is not one of this node's users (--run-as, --allow-run-as)"
                )
            } else {
                format!(
                    "refused: this node's agent runs as {:?} and cannot run tasks as {name:?} (only an agent started as root switches users)",
                    self.me.name
                )
            });
        };
        if user.uid == self.me.uid {
            return Ok(None);
        }
        #[cfg(target_os = "linux")]
        {
            let spawner = self.spawner.clone().ok_or_else(|| {
                format!("refused: run_as {name:?}: this node cannot switch users")
            })?;
            Ok(Some(Switch {
                user: user.clone(),
                spawner,
            }))
        }
        #[cfg(not(target_os = "linux"))]
        Err(format!(
            "refused: run_as {name:?}: switching users is supported on Linux only"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_decides_each_runs_user_by_the_policy() {
        let me = current();
        // As the agent itself: what a task asks for must be the agent's own user.
        let plain = RunAs {
            me: me.clone(),
            default: None,
            allowed: HashMap::new(),
            allow_root: false,
            #[cfg(target_os = "linux")]
            spawner: None,
        };
        let no_user = plain.user(None);
        if me.uid == 0 {
            let e = no_user.unwrap_err();
            assert!(e.contains("--allow-root-runs"), "{e}");
            let e = plain.user(Some("root")).unwrap_err();
            assert!(e.contains("--allow-root-runs"), "{e}");
        } else {
            assert!(no_user.unwrap().is_none());
            assert!(plain.user(Some(&me.name)).unwrap().is_none());
        }
        let e = plain.user(Some("no-such-user-here")).unwrap_err();
        assert!(e.contains("no-such-user-here"), "{e}");
        // Allowed to run as root: a task naming none runs as the agent.
        assert!(RunAs::as_agent().user(None).unwrap().is_none());
    }

    #[test]
    fn configured_users_are_checked_at_start() {
        let e = RunAs::resolve(
            &RunAsConfig {
                default: Some("no-such-user-here".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert!(matches!(e, UsersError::Unknown(_)), "{e}");
        let e = RunAs::resolve(
            &RunAsConfig {
                allowed: vec!["root".into()],
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert!(
            matches!(e, UsersError::Root(_) | UsersError::CannotSwitch { .. }),
            "{e}"
        );
    }
}

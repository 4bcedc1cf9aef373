//! The spawner against the real agent binary: a process started as another user, its exit
//! status and signals, the step that failed named, and a spawner that died started again.
//! Needs root (CI runs as root); as another user it says so and checks nothing.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use cloudtask_agent::spawner::{SpawnError, SpawnRequest, Spawner};
use cloudtask_agent::users::{RunAs, RunAsConfig, RunUser};
use tokio::io::AsyncReadExt;

fn nobody() -> Option<RunUser> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: the spawner cannot switch users here; nothing checked");
        return None;
    }
    let u = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    Some(RunUser {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        groups: vec![u.gid.as_raw()],
    })
}

fn spawner() -> Spawner {
    Spawner::start(PathBuf::from(env!("CARGO_BIN_EXE_cloudtask-agent"))).unwrap()
}

fn request<'a>(user: &'a RunUser, cwd: &'a Path, args: &'a [&'a str]) -> SpawnRequest<'a> {
    SpawnRequest {
        user,
        cwd,
        program: "/bin/sh",
        args,
        env: &[],
    }
}

#[tokio::test]
async fn a_spawned_run_is_the_users_and_ends_as_its_process_did() {
    let Some(user) = nobody() else { return };
    let s = spawner();
    let tmp = Path::new("/");
    let env = [
        ("X".to_string(), "first".to_string()),
        ("X".to_string(), "last".to_string()),
    ];
    let mut req = request(
        &user,
        tmp,
        &["sh", "-c", "echo $(id -u) $X $(umask); exit 3"],
    );
    req.env = &env;
    let mut child = s.spawn(&req).unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(
        out, "65534 last 0022\n",
        "its uid, the last of an env name, umask 022"
    );
    assert_eq!(child.wait().await.unwrap().code(), Some(3));

    // Its group is signalled as a whole.
    let mut child = s
        .spawn(&request(&user, tmp, &["sh", "-c", "sleep 300 & sleep 300"]))
        .unwrap();
    child.signal(9).unwrap();
    let st = child.wait().await.unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(9));

    // A step that fails is named, with the system's reason.
    let e = s
        .spawn(&request(
            &user,
            Path::new("/nonexistent/dir"),
            &["sh", "-c", "true"],
        ))
        .unwrap_err();
    assert!(
        matches!(&e, SpawnError::Step { step, .. } if step.contains("directory")),
        "{e}"
    );
    assert!(e.to_string().contains("No such file"), "{e}");
}

#[tokio::test]
async fn a_spawner_that_died_is_started_again() {
    let Some(user) = nobody() else { return };
    let s = spawner();
    let before = s.process_ids();
    for pid in &before {
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    // Every spawner is dead: each spawn starts one again and succeeds.
    for _ in 0..before.len() + 1 {
        let mut child = s
            .spawn(&request(&user, Path::new("/"), &["sh", "-c", "exit 0"]))
            .unwrap();
        assert!(child.wait().await.unwrap().success());
    }
    let after = s.process_ids();
    assert!(
        after.iter().any(|p| !before.contains(p)),
        "new spawners: {before:?} then {after:?}"
    );
}

#[test]
fn policy_resolution_needs_root_to_switch() {
    let cfg = RunAsConfig {
        default: Some("nobody".into()),
        ..Default::default()
    };
    let resolved = RunAs::resolve(
        &cfg,
        Some(PathBuf::from(env!("CARGO_BIN_EXE_cloudtask-agent"))),
    );
    if nix::unistd::geteuid().is_root() {
        assert!(resolved.unwrap().switches());
    } else {
        let e = resolved.unwrap_err().to_string();
        assert!(e.contains("only one started as root"), "{e}");
    }
}

//! ZooKeeper credentials end to end: daemons refuse a ZooKeeper without credentials unless
//! told `--zk-insecure`; a center and an agent with their two identities run a task; an
//! anonymous ZooKeeper client can then neither read the assignments or the claims nor remove
//! a claim.

use std::process::Command;

use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center, bin};
use cloudtask_shared::RunStatus;
use serde_json::json;

#[tokio::test]
async fn daemons_need_zookeeper_credentials_or_to_be_told_insecure_and_with_them_strangers_are_kept_out()
 {
    let zk = ZooKeeper::start();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let connect = zk.connect("/acl");

    // Neither credentials nor --zk-insecure: refused at start, naming both ways.
    let center = Command::new(bin("cloudtask-center"))
        .args(["--zk", &connect, "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("refused"))
        .output()
        .unwrap();
    let agent = Command::new(bin("cloudtask-agent"))
        .args([
            "--zk",
            &connect,
            "--center",
            "http://127.0.0.1:9",
            "--data-dir",
        ])
        .arg(dir.join("refused-agent"))
        .output()
        .unwrap();
    for out in [&center, &agent] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--zk-digest-file") && err.contains("--zk-insecure"),
            "{err}"
        );
    }

    let center_file = dir.join("zk-center.digest");
    let agents_file = dir.join("zk-agents.digest");
    std::fs::write(&center_file, "center:c3nter-pw").unwrap();
    std::fs::write(&agents_file, "agents:ag3nt-pw").unwrap();
    let c = Center::start_cluster(
        dir,
        &connect,
        &[
            "--zk-digest-file",
            center_file.to_str().unwrap(),
            "--zk-agent-digest-file",
            agents_file.to_str().unwrap(),
        ],
    )
    .await;
    let _agent = Agent::start_with(
        "node-1",
        "default",
        &connect,
        &c.url,
        dir,
        &["--zk-digest-file", agents_file.to_str().unwrap()],
    );
    c.create_task(json!({"name": "t", "command": "echo with-acls"}))
        .await;
    let (run, log) = c.run_now("t").await;
    assert_eq!(run.status, RunStatus::Succeeded, "{log}");
    assert!(log.contains("with-acls"), "{log}");

    let anonymous = zookeeper_client::Client::connect(&connect).await.unwrap();
    let noauth = Err(zookeeper_client::Error::NoAuth);
    assert_eq!(
        anonymous
            .get_data("/clusters/default/assignments/node-1")
            .await
            .map(|_| ()),
        noauth
    );
    assert_eq!(anonymous.list_children("/claims").await.map(|_| ()), noauth);
    // The run's claim, found as the agents' identity: anonymous may not remove it.
    let agents = zookeeper_client::Client::connector()
        .with_auth("digest", b"agents:ag3nt-pw")
        .connect(&connect)
        .await
        .unwrap();
    let mut claim = None;
    for bucket in agents.list_children("/claims").await.unwrap() {
        for task in agents
            .list_children(&format!("/claims/{bucket}"))
            .await
            .unwrap()
        {
            let runs = agents
                .list_children(&format!("/claims/{bucket}/{task}"))
                .await
                .unwrap();
            if let Some(r) = runs.first() {
                claim = Some(format!("/claims/{bucket}/{task}/{r}"));
            }
        }
    }
    let claim = claim.expect("the run's claim");
    assert_eq!(anonymous.delete(&claim, None).await, noauth);
    assert!(anonymous.check_stat(&claim).await.unwrap().is_some());
}

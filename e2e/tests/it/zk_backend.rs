//! The coordination suite and ZooKeeper-specific promises against a real ZooKeeper server.

use std::time::Duration;

use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_shared::coord::zookeeper::{ZkConfig, ZkSession};
use cloudtask_shared::coord::{Assignment, ClaimKey, ClaimOutcome, Coordination, Error};

fn config(zk: &ZooKeeper, chroot: &str) -> ZkConfig {
    ZkConfig {
        session_timeout: Duration::from_secs(2),
        ..ZkConfig::new(&zk.connect(chroot))
    }
}

/// The coordination suite on a real ZooKeeper: one test (and one server) per promise.
mod suite {
    use super::*;

    cloudtask_shared::coordination_suite!(
        {
            let zk = ZooKeeper::start();
            // No promise waits for an expiry: a longer session gives connecting more time
            // on a loaded machine (the connection timeout follows the session timeout).
            let cfg = ZkConfig {
                session_timeout: Duration::from_secs(5),
                ..config(&zk, "/cloudtask")
            };
            (zk, cfg)
        },
        |fx| ZkSession::connect(&fx.1, "suite")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn assignments_of_100k_tasks_stay_in_small_znodes() {
    let zk = ZooKeeper::start();
    let cfg = config(&zk, "/big");
    let s = ZkSession::connect(&cfg, "center").await.unwrap();
    assert!(s.campaign("center").await.unwrap());
    let mut big = Assignment::default();
    for i in 0..100_000 {
        big.tasks.insert(format!("01JD{i:022}"), 7);
    }
    let v1 = s.write_assignment("c1", "n1", &big).await.unwrap();
    let read = s.read_assignment("c1", "n1").await.unwrap().unwrap();
    assert_eq!(read.version, v1);
    assert_eq!(read.value, big);
    // Every znode and children listing is well below the 1 MiB packet limit.
    let raw = zookeeper_client::Client::connect(&zk.connect("/big"))
        .await
        .unwrap();
    let (header, _) = raw.get_data("/clusters/c1/assignments/n1").await.unwrap();
    assert!(header.len() < 512 << 10);
    let chunks = raw
        .list_children("/clusters/c1/assignments/n1")
        .await
        .unwrap();
    assert!(chunks.len() > 1, "100k tasks should need several chunks");
    for c in &chunks {
        let (data, _) = raw
            .get_data(&format!("/clusters/c1/assignments/n1/{c}"))
            .await
            .unwrap();
        assert!(
            data.len() <= (256 << 10) + 32,
            "chunk {c} is {} bytes",
            data.len()
        );
    }
    // Shrinking back to a small assignment bumps the version and reads back exactly.
    let mut small = Assignment::default();
    small.tasks.insert("t".into(), 1);
    let v2 = s.write_assignment("c1", "n1", &small).await.unwrap();
    assert!(v2 > v1);
    assert_eq!(
        s.read_assignment("c1", "n1").await.unwrap().unwrap().value,
        small
    );
    // A claim against the superseded version is fenced and writes nothing.
    let key = ClaimKey {
        task: "t".into(),
        run: "t-1000-1".into(),
    };
    assert!(matches!(
        s.claim("c1", "n1", v1, std::slice::from_ref(&key)).await,
        Err(Error::Fenced { .. })
    ));
    assert_eq!(
        s.claim("c1", "n1", v2, &[key]).await.unwrap(),
        [ClaimOutcome::Claimed]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_credentials_the_center_owns_the_tree_and_agents_only_register_and_claim() {
    let zk = ZooKeeper::start();
    const CENTER: &str = "center:c3nter-s3cret";
    const AGENTS: &str = "agents:ag3nt-s3cret";
    let center_cfg = ZkConfig {
        digest: Some(CENTER.into()),
        agent_digest: Some(AGENTS.into()),
        ..config(&zk, "/secured")
    };
    let agent_cfg = ZkConfig {
        digest: Some(AGENTS.into()),
        ..config(&zk, "/secured")
    };
    // An agent lays out nothing: before any center, it says who must come first.
    let e = ZkSession::connect(&agent_cfg, "n1").await.err().unwrap();
    assert!(e.to_string().contains("a center lays the tree out"), "{e}");

    let center = ZkSession::connect(&center_cfg, "center").await.unwrap();
    assert!(center.campaign("center").await.unwrap());
    center.prepare_cluster("c1").await.unwrap();
    let v = center
        .write_assignment("c1", "n1", &Assignment::default())
        .await
        .unwrap();

    // The agents' identity reads, registers and claims...
    let agent = ZkSession::connect(&agent_cfg, "n1").await.unwrap();
    agent.read_assignment("c1", "n1").await.unwrap();
    agent
        .join(&cloudtask_shared::coord::suite::node("c1", "n1"))
        .await
        .unwrap();
    let key = ClaimKey {
        task: "t1".into(),
        run: "r1".into(),
    };
    let fence = "/clusters/c1/assignments/n1";
    assert_eq!(
        agent
            .claim("c1", "n1", v, std::slice::from_ref(&key))
            .await
            .unwrap(),
        [ClaimOutcome::Claimed]
    );
    // ...and the center sees what it made.
    assert_eq!(center.members("c1").await.unwrap().len(), 1);
    assert_eq!(
        center.claimed_runs(&["t1".into()]).await.unwrap()[0].1,
        ["r1"]
    );
    // It cannot write assignments, stand for leader, or lay out a cluster of its own.
    let e = agent
        .write_assignment("c1", "n1", &Assignment::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("not authorized") || matches!(e, Error::NotLeader),
        "{e}"
    );
    let raw_agent = zookeeper_client::Client::connector()
        .with_auth("digest", AGENTS.as_bytes())
        .connect(&zk.connect("/secured"))
        .await
        .unwrap();
    let noauth = Err(zookeeper_client::Error::NoAuth);
    let dirs =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::creator_all());
    assert_eq!(
        raw_agent.set_data(fence, b"{}", None).await.map(|_| ()),
        noauth
    );
    assert_eq!(
        raw_agent
            .create(
                "/leader/c-",
                b"x",
                &zookeeper_client::CreateMode::EphemeralSequential
                    .with_acls(zookeeper_client::Acls::creator_all())
            )
            .await
            .map(|_| ()),
        noauth
    );
    assert_eq!(
        raw_agent
            .create("/clusters/c2", b"", &dirs)
            .await
            .map(|_| ()),
        noauth
    );
    assert_eq!(
        raw_agent
            .create("/clusters/c1/assignments/n2", b"{}", &dirs)
            .await
            .map(|_| ()),
        noauth
    );

    // Without credentials: no assignment read, no claim deleted, nothing created.
    let anonymous = zookeeper_client::Client::connect(&zk.connect("/secured"))
        .await
        .unwrap();
    assert_eq!(anonymous.get_data(fence).await.map(|_| ()), noauth);
    assert_eq!(anonymous.list_children("/claims").await.map(|_| ()), noauth);
    let claim_dir = format!(
        "/claims/{}",
        raw_agent.list_children("/claims").await.unwrap()[0]
    );
    let task_dir = format!("{claim_dir}/t1");
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    assert_eq!(
        anonymous.delete(&format!("{task_dir}/r1"), None).await,
        noauth
    );
    assert_eq!(
        anonymous
            .create(&format!("{task_dir}/r2"), b"x", &open)
            .await
            .map(|_| ()),
        noauth
    );
    assert_eq!(
        anonymous
            .create("/clusters/c1/members/n9", b"{}", &open)
            .await
            .map(|_| ()),
        noauth
    );

    // A wrong password is no identity.
    let intruder = ZkSession::connect(
        &ZkConfig {
            digest: Some("agents:wrong".into()),
            ..config(&zk, "/secured")
        },
        "intruder",
    )
    .await;
    let err = match intruder {
        Ok(s) => s.read_assignment("c1", "n1").await.err(),
        Err(e) => Some(e),
    };
    assert!(
        err.is_some_and(|e| e.to_string().contains("not authorized")),
        "a wrong password must not read"
    );
}

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
async fn digest_acls_keep_other_identities_out() {
    let zk = ZooKeeper::start();
    let mut cfg = config(&zk, "/secured");
    cfg.digest = Some("cloudtask:s3cret".into());
    let owner = ZkSession::connect(&cfg, "center").await.unwrap();
    assert!(owner.campaign("center").await.unwrap());
    owner
        .write_assignment("c1", "n1", &Assignment::default())
        .await
        .unwrap();
    let raw = zookeeper_client::Client::connect(&zk.connect("/secured"))
        .await
        .unwrap();
    let denied = raw.get_data("/clusters/c1/assignments/n1").await;
    assert_eq!(denied.unwrap_err(), zookeeper_client::Error::NoAuth);
    cfg.digest = Some("cloudtask:wrong".into());
    let intruder = ZkSession::connect(&cfg, "intruder").await;
    let err = match intruder {
        Ok(s) => s.read_assignment("c1", "n1").await.err(),
        Err(e) => Some(e),
    };
    assert!(
        err.is_some_and(|e| e.to_string().contains("not authorized")),
        "a wrong password must not read"
    );
}

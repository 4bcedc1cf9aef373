//! The behavioural test suite every coordination backend must pass, written once.
//!
//! `connect` opens a new, independent session on the same backend each time it is called.
//! Names carry a random suffix so the suite can run repeatedly against one long-lived server.

use std::future::Future;
use std::time::Duration;

use super::{Assignment, Change, ClaimKey, ClaimOutcome, Coordination, Error};
use crate::model::NodeInfo;

fn node(cluster: &str, name: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        cluster: cluster.into(),
        address: None,
        version: "test".into(),
        os: "linux".into(),
        labels: Default::default(),
        capacity: 4,
        started_at: jiff::Timestamp::UNIX_EPOCH,
        tzdata: None,
    }
}

async fn eventually<C: Coordination>(s: &C, cluster: &str, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut names: Vec<String> = s
            .members(cluster)
            .await
            .expect("members")
            .into_iter()
            .map(|n| n.name)
            .collect();
        names.sort();
        if names == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "members of {cluster} are {names:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs every check; panics with a message naming the broken promise.
pub async fn run<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let tag = format!("{:x}", jiff::Timestamp::now().as_nanosecond() % 0xffff_ffff);
    let cluster = format!("suite-{tag}");
    let a = connect().await.expect("session a");
    let b = connect().await.expect("session b");

    // Membership lives as long as the session.
    let mut changes = b.changes();
    a.join(&node(&cluster, "n1")).await.expect("join n1");
    b.join(&node(&cluster, "n2")).await.expect("join n2");
    eventually(&b, &cluster, &["n1", "n2"]).await;
    assert!(b.clusters().await.expect("clusters").contains(&cluster));
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Change::Members { cluster: c }) = changes.recv().await
                && c == cluster
            {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "no membership change notified");

    // Leadership: one leader; it passes on when the leader's session ends.
    let a_leads = a.campaign("a").await.expect("campaign a");
    let b_leads = b.campaign("b").await.expect("campaign b");
    assert!(
        a_leads ^ b_leads || (a_leads && !b_leads),
        "exactly one leader, got a={a_leads} b={b_leads}"
    );

    // Assignments are versioned; versions grow with each write.
    let mut asg = Assignment::default();
    asg.tasks.insert("t1".into(), 1);
    let v1 = a
        .write_assignment(&cluster, "n1", &asg)
        .await
        .expect("write");
    let read = b
        .read_assignment(&cluster, "n1")
        .await
        .expect("read")
        .expect("assignment exists");
    assert_eq!((read.value, read.version), (asg.clone(), v1));
    asg.tasks.insert("t2".into(), 1);
    let v2 = a
        .write_assignment(&cluster, "n1", &asg)
        .await
        .expect("write again");
    assert!(v2 > v1, "version did not grow: {v1} then {v2}");
    let mut assigned = b.assigned_nodes(&cluster).await.expect("assigned nodes");
    assigned.sort();
    assert_eq!(assigned, ["n1"]);
    assert!(
        b.read_assignment(&cluster, "nobody")
            .await
            .expect("read missing")
            .is_none()
    );

    // Claims: exactly one holder per key, fenced by the assignment version.
    let k = |run: &str| ClaimKey {
        task: format!("t1-{tag}"),
        run: format!("{run}-{tag}"),
    };
    let got = a
        .claim(&cluster, "n1", v2, &[k("r1"), k("r2")])
        .await
        .expect("claim");
    assert_eq!(got, [ClaimOutcome::Claimed, ClaimOutcome::Claimed]);
    let again = a
        .claim(&cluster, "n1", v2, &[k("r1")])
        .await
        .expect("re-claim own");
    assert_eq!(
        again,
        [ClaimOutcome::Claimed],
        "a session's own claim must read as held"
    );
    let v_b = b
        .write_assignment(&cluster, "n2", &Assignment::default())
        .await
        .expect("write n2");
    let other = b
        .claim(&cluster, "n2", v_b, &[k("r1"), k("r3")])
        .await
        .expect("claim by b");
    assert_eq!(other, [ClaimOutcome::Taken, ClaimOutcome::Claimed]);
    match a.claim(&cluster, "n1", v1, &[k("r4")]).await {
        Err(Error::Fenced { .. }) => {}
        other => panic!("stale assignment version must fence, got {other:?}"),
    }
    let third = b
        .claim(&cluster, "n2", v_b, &[k("r4")])
        .await
        .expect("r4 unclaimed after the fenced try");
    assert_eq!(
        third,
        [ClaimOutcome::Claimed],
        "a fenced batch must write nothing"
    );

    // The latest claimed scheduled instant is where a new owner picks up.
    let task = format!("t1-{tag}");
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).expect("instant");
    let runs = [
        crate::run_id(&task, at(5_000), 1, crate::Trigger::Schedule),
        crate::run_id(&task, at(9_000), 1, crate::Trigger::Manual),
        crate::run_id(&task, at(7_000), 2, crate::Trigger::Retry),
    ];
    let keys: Vec<ClaimKey> = runs
        .iter()
        .map(|r| ClaimKey {
            task: task.clone(),
            run: r.clone(),
        })
        .collect();
    b.claim(&cluster, "n2", v_b, &keys)
        .await
        .expect("claim instants");
    let last = a
        .last_claimed(&[task.clone(), format!("never-{tag}")])
        .await
        .expect("last claimed");
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(
        last.get(&task),
        Some(&at(7_000)),
        "manual runs do not count"
    );

    // Pruning keeps the newest claims.
    let many: Vec<ClaimKey> = (0..20).map(|i| k(&format!("p{i:02}"))).collect();
    a.claim(&cluster, "n1", v2, &many)
        .await
        .expect("claim many");
    let dropped = a
        .prune_claims(&format!("t1-{tag}"), 5)
        .await
        .expect("prune");
    assert_eq!(dropped, 22, "4 + 3 + 20 claims, keep 5");
    let newest = a
        .claim(&cluster, "n1", v2, &[k("p19")])
        .await
        .expect("claim newest");
    assert_eq!(newest, [ClaimOutcome::Claimed]);

    // Ending a session drops its members and leadership, and it may not act any more.
    let leader_was_a = a_leads;
    a.close().await.expect("close a");
    eventually(&b, &cluster, &["n2"]).await;
    if leader_was_a {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !b.campaign("b").await.expect("campaign b again") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "leadership never passed to b"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    match a.claim(&cluster, "n1", v2, &[k("r9")]).await {
        Err(Error::SessionExpired) => {}
        other => panic!("a closed session must not claim, got {other:?}"),
    }
    b.close().await.expect("close b");
}

//! The behavioural test suite every coordination backend must pass, written once: one
//! function per promise, and [`coordination_suite!`](crate::coordination_suite) to make one
//! test of each for a backend.
//!
//! `connect` opens a new, independent session on the same backend each time it is called.
//! Names carry a random suffix so the suite can run repeatedly against one long-lived server.

use std::future::Future;
use std::time::Duration;

use super::{Assignment, Change, ClaimKey, ClaimOutcome, Coordination, Error};
use crate::model::NodeInfo;

/// A member as the suite registers it (also for backend-specific tests).
pub fn node(cluster: &str, name: &str) -> NodeInfo {
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
        session: None,
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

/// The promises, by name: the macro makes a test of each.
#[macro_export]
macro_rules! coordination_suite {
    ($setup:expr, |$fx:ident| $connect:expr) => {
        $crate::coordination_suite!(@each $setup, |$fx| $connect;
            membership_lives_as_long_as_the_session,
            exactly_one_leader_and_it_passes_on,
            only_the_leader_writes_assignments,
            assignment_versions_grow_with_each_write,
            claims_are_exclusive_and_fenced_by_the_assignment,
            the_latest_claimed_instant_is_where_a_new_owner_starts,
            claims_name_the_session_a_member_holds,
            pruning_keeps_the_newest_claims,
            a_closed_session_neither_leads_nor_claims);
    };
    (@each $setup:expr, |$fx:ident| $connect:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let $fx = $setup;
                $crate::coord::suite::$name(|| $connect).await;
            }
        )*
    };
}

/// A fresh cluster name and tag per promise, so promises share a server safely.
fn names() -> (String, String) {
    let tag = format!(
        "{:x}",
        jiff::Timestamp::now().as_nanosecond() % 0xffff_ffff_ffff
    );
    (format!("suite-{tag}"), tag)
}

/// Two sessions, the first of which leads.
async fn leader_and_follower<C, F, Fut>(connect: &F) -> (C, C)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let a = connect().await.expect("session a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !a.campaign("a").await.expect("campaign a") {
        // A leader left over from an earlier promise on the same server is going away.
        assert!(tokio::time::Instant::now() < deadline, "a never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b = connect().await.expect("session b");
    assert!(!b.campaign("b").await.expect("campaign b"), "two leaders");
    (a, b)
}

fn key(tag: &str, run: &str) -> ClaimKey {
    ClaimKey {
        task: format!("t1-{tag}"),
        run: format!("{run}-{tag}"),
    }
}

/// Members are seen by every session, changes are notified, and a member goes with its session.
pub async fn membership_lives_as_long_as_the_session<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, _) = names();
    let a = connect().await.expect("session a");
    let b = connect().await.expect("session b");
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
    a.close().await.expect("close a");
    eventually(&b, &cluster, &["n2"]).await;
    b.close().await.expect("close b");
}

/// One session leads; when it ends, another takes over.
pub async fn exactly_one_leader_and_it_passes_on<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (a, b) = leader_and_follower(&connect).await;
    assert!(
        a.campaign("a").await.expect("campaign a again"),
        "a still leads"
    );
    a.close().await.expect("close a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !b.campaign("b").await.expect("campaign b again") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "leadership never passed to b"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.close().await.expect("close b");
}

/// An assignment write by a session that does not lead is refused and changes nothing.
pub async fn only_the_leader_writes_assignments<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, _) = names();
    let (a, b) = leader_and_follower(&connect).await;
    let mut asg = Assignment::default();
    asg.tasks.insert("t1".into(), 1);
    let v = a
        .write_assignment(&cluster, "n1", &asg)
        .await
        .expect("leader writes");
    let mut forged = asg.clone();
    forged.tasks.insert("stolen".into(), 1);
    match b.write_assignment(&cluster, "n1", &forged).await {
        Err(Error::NotLeader) => {}
        other => panic!("a non-leader's assignment write must be refused, got {other:?}"),
    }
    let read = a
        .read_assignment(&cluster, "n1")
        .await
        .expect("read")
        .expect("assignment exists");
    assert_eq!(
        (read.value, read.version),
        (asg, v),
        "the refused write changed it"
    );
    a.close().await.expect("close a");
    b.close().await.expect("close b");
}

/// Assignments read back as written, with a version that grows per write.
pub async fn assignment_versions_grow_with_each_write<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, _) = names();
    let (a, b) = leader_and_follower(&connect).await;
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
    a.close().await.expect("close a");
    b.close().await.expect("close b");
}

/// One holder per claim; a session's own claim reads as held; a stale assignment version
/// fences the whole batch, which then writes nothing.
pub async fn claims_are_exclusive_and_fenced_by_the_assignment<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, tag) = names();
    let k = |run: &str| key(&tag, run);
    let (a, b) = leader_and_follower(&connect).await;
    let v1 = a
        .write_assignment(&cluster, "n1", &Assignment::default())
        .await
        .expect("write n1");
    let mut asg = Assignment::default();
    asg.tasks.insert("t1".into(), 1);
    let v2 = a
        .write_assignment(&cluster, "n1", &asg)
        .await
        .expect("write n1 again");
    let v_b = a
        .write_assignment(&cluster, "n2", &Assignment::default())
        .await
        .expect("write n2");
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
    a.close().await.expect("close a");
    b.close().await.expect("close b");
}

/// The latest claimed scheduled instant of a task (manual runs aside) is where a node that
/// takes the task over starts.
pub async fn the_latest_claimed_instant_is_where_a_new_owner_starts<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, tag) = names();
    let (a, b) = leader_and_follower(&connect).await;
    let v_b = a
        .write_assignment(&cluster, "n2", &Assignment::default())
        .await
        .expect("write n2");
    let task = format!("t1-{tag}");
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).expect("instant");
    let runs = [
        crate::run_id(&task, at(5_000), 1, crate::Trigger::Schedule),
        crate::manual_run_id(&task, at(9_000), "00ff"),
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
    a.close().await.expect("close a");
    b.close().await.expect("close b");
}

/// A claim names the session that made it, and the member that session registered says it
/// holds that session: how the leader tells claims of a node that ended from live ones.
pub async fn claims_name_the_session_a_member_holds<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, tag) = names();
    let (a, b) = leader_and_follower(&connect).await;
    b.join(&node(&cluster, "n2")).await.expect("join n2");
    eventually(&a, &cluster, &["n2"]).await;
    let v_b = a
        .write_assignment(&cluster, "n2", &Assignment::default())
        .await
        .expect("write n2");
    let task = format!("t1-{tag}");
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).expect("instant");
    let key = |run: String| ClaimKey {
        task: task.clone(),
        run,
    };
    let keys = [
        key(crate::run_id(&task, at(5_000), 1, crate::Trigger::Schedule)),
        key(crate::manual_run_id(&task, at(9_000), "00ff")),
        key(crate::run_id(&task, at(7_000), 2, crate::Trigger::Retry)),
    ];
    b.claim(&cluster, "n2", v_b, &keys).await.expect("claim");
    let since = a
        .claimed_since(&[task.clone(), format!("never-{tag}")], at(6_000))
        .await
        .expect("claimed since");
    assert_eq!(
        since,
        [keys[2].clone()],
        "scheduled instants from 6 s on only"
    );
    let session = a
        .members(&cluster)
        .await
        .expect("members")
        .into_iter()
        .find(|m| m.name == "n2")
        .and_then(|m| m.session)
        .expect("a member names its session");
    let never = key(crate::run_id(&task, at(1_000), 1, crate::Trigger::Schedule));
    let owners = a
        .claim_owners(&[keys[0].clone(), never])
        .await
        .expect("owners");
    let owner = owners[0].as_deref().expect("a claim has an owner");
    assert_eq!(crate::model::claim_owner(owner).1, session, "{owner}");
    assert_eq!(owners[1], None, "no claim, no owner");
    b.close().await.expect("close b");
    eventually(&a, &cluster, &[]).await;
    a.close().await.expect("close a");
}

/// Pruning drops the oldest claims of a task and keeps the newest.
pub async fn pruning_keeps_the_newest_claims<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, tag) = names();
    let k = |run: &str| key(&tag, run);
    let (a, b) = leader_and_follower(&connect).await;
    let v = a
        .write_assignment(&cluster, "n1", &Assignment::default())
        .await
        .expect("write");
    let many: Vec<ClaimKey> = (0..20).map(|i| k(&format!("p{i:02}"))).collect();
    a.claim(&cluster, "n1", v, &many).await.expect("claim many");
    let dropped = a
        .prune_claims(&format!("t1-{tag}"), 5)
        .await
        .expect("prune");
    assert_eq!(dropped, 15, "20 claims, keep 5");
    let newest = a
        .claim(&cluster, "n1", v, &[k("p19")])
        .await
        .expect("claim newest");
    assert_eq!(
        newest,
        [ClaimOutcome::Claimed],
        "the newest claim is still held"
    );
    a.close().await.expect("close a");
    b.close().await.expect("close b");
}

/// A closed session leads nothing and may not claim or write any more.
pub async fn a_closed_session_neither_leads_nor_claims<C, F, Fut>(connect: F)
where
    C: Coordination,
    F: Fn() -> Fut,
    Fut: Future<Output = super::Result<C>>,
{
    let (cluster, tag) = names();
    let (a, b) = leader_and_follower(&connect).await;
    let v = a
        .write_assignment(&cluster, "n1", &Assignment::default())
        .await
        .expect("write");
    let mut changes = b.changes();
    a.close().await.expect("close a");
    tokio::time::timeout(Duration::from_secs(30), async {
        while !matches!(changes.recv().await, Ok(Change::Leadership)) {}
    })
    .await
    .expect("leadership change notified");
    assert!(
        b.campaign("b").await.expect("campaign b"),
        "b leads after a closed"
    );
    match a.claim(&cluster, "n1", v, &[key(&tag, "r9")]).await {
        Err(Error::SessionExpired) => {}
        other => panic!("a closed session must not claim, got {other:?}"),
    }
    match a
        .write_assignment(&cluster, "n1", &Assignment::default())
        .await
    {
        Err(Error::SessionExpired | Error::NotLeader) => {}
        other => panic!("a closed session must not write assignments, got {other:?}"),
    }
    match a.campaign("a").await {
        Err(Error::SessionExpired) | Ok(false) => {}
        other => panic!("a closed session must not lead, got {other:?}"),
    }
    b.close().await.expect("close b");
}

//! The promises every store backend keeps, one function per promise, written once against
//! the [`Store`] interface. [`store_suite!`] makes one test of each for a backend:
//!
//! ```ignore
//! crate::store::suite::store_suite!(async { (open_my_backend().await, guard) });
//! ```
//!
//! The opener yields the store and a guard (a temp dir, a server) kept for the test's length.
//! A later backend passes by adding that one line; a later promise is one more function here
//! and one more name in the macro.

use std::collections::BTreeMap;

use cloudtask_shared::api::{Event, Grant, PackageInfo, Role};
use cloudtask_shared::{RunRecord, RunStatus, Task, TaskSpec, Trigger};
use jiff::Timestamp;

use super::{
    AuditEntry, AuditFilter, Effects, Error, NameTable, Placement, RunFilter, RunWrite, Store,
    TaskPage, TokenKind, TokenRow, UserRow,
};

/// The suite's instants: `secs` after a fixed origin.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

macro_rules! store_suite {
    ($open:expr) => {
        $crate::store::suite::store_suite!(@each $open;
            a_created_task_reads_back_with_its_cluster_and_group,
            task_names_are_unique_within_a_group,
            an_update_based_on_an_old_version_is_refused_and_writes_nothing,
            effects_commit_with_their_write_and_only_then,
            deleting_a_task_deletes_its_runs_logs_and_history,
            a_new_package_enters_the_task_history,
            groups_with_tasks_cannot_be_removed,
            the_fingerprint_changes_on_every_task_write,
            run_reports_only_move_forward_and_keep_the_first_log,
            a_batch_of_reports_ends_as_applying_them_in_order_would,
            the_effects_of_reports_see_only_the_runs_that_moved,
            a_requested_run_is_stored_once_by_id_and_by_key,
            active_runs_are_those_not_finished,
            node_loss_marks_only_that_nodes_running_runs_lost,
            a_request_not_taken_moves_and_a_taken_one_stays,
            orphans_are_the_running_runs_a_node_does_not_list_started_before_its_statement,
            run_listings_filter_and_order_newest_first,
            tokens_read_back_expire_and_go_with_their_user,
            users_read_back_with_grants_and_a_new_password_ends_sessions,
            failures_count_per_key_within_their_window,
            run_listings_filter_by_their_tasks_groups,
            the_outbox_delivers_in_commit_order_and_prunes_without_going_back,
            outbox_cursors_are_per_center,
            the_outbox_keeps_rows_a_live_center_has_not_delivered,
            retention_deletes_finished_runs_past_the_count_or_age_never_active_ones,
            a_report_of_a_run_retention_deleted_is_not_stored_again,
            audit_rows_go_by_age,
            package_histories_trim_to_their_newest_and_unnamed_packages_are_collected,
            package_bytes_read_back_chunk_by_chunk_once_recorded_whole,
            a_deposed_leaders_writes_change_nothing,
            a_shared_secret_is_the_first_one_offered,
            task_pages_follow_group_and_name_and_filter_in_the_store,
            node_and_join_token_names_are_unique_where_they_must_be,
            placements_open_close_and_say_who_held_a_task_when,
            incidents_commit_with_the_alert_cursor_and_only_from_where_it_is,
            messages_are_retried_when_due_delivered_or_dead_and_counted,
            a_digest_replaces_its_parts_in_one_step,
            only_open_incidents_are_acknowledged_and_old_alerts_go,
            silences_read_back_until_they_end_and_go_with_retention,
            audit_rows_read_back_whole_and_filter_by_time_actor_target_group_and_action
        );
    };
    (@each $open:expr; $($promise:ident),* $(,)?) => {
        mod store_suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $promise() {
                    let (store, _guard) = $open.await;
                    $crate::store::suite::$promise(store.as_ref()).await;
                }
            )*
        }
    };
}
pub(crate) use store_suite;

/// A valid task named `name` in `group`, version 1.
pub fn task(name: &str, group: &str) -> Task {
    let spec: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": name, "group": group, "command": "true", "schedules": ["@every 1h"],
    }))
    .expect("a valid task spec");
    let at = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    Task {
        id: format!("id-{group}-{name}"),
        spec,
        version: 1,
        created_by: "suite".into(),
        created_at: at,
        updated_by: "suite".into(),
        updated_at: at,
    }
}

/// A run of `task` at the suite's fixed instant, on node `n1`.
pub fn run(id: &str, task: &str, status: RunStatus) -> RunRecord {
    RunRecord {
        id: id.into(),
        task: task.into(),
        task_name: "n".into(),
        scheduled_at: Timestamp::from_millisecond(1_000).unwrap_or(Timestamp::UNIX_EPOCH),
        started_at: None,
        finished_at: None,
        status,
        exit_code: None,
        node: "n1".into(),
        attempt: 1,
        trigger: Trigger::Schedule,
        message: None,
        params: BTreeMap::new(),
        args: Vec::new(),
        not_before: None,
        requested_by: None,
    }
}

pub fn audited(action: &str, target: &str) -> Effects {
    Effects {
        audit: Some(AuditEntry {
            from: Some("10.0.0.7".into()),
            group: Some("ops".into()),
            version_before: Some(1),
            version_after: Some(2),
            fields: vec!["command".into(), "secret_env.X".into()],
            ..AuditEntry::new(Timestamp::now(), "alice", action, target, "")
        }),
        events: vec![Event::TaskDeleted { id: target.into() }],
        requests: Vec::new(),
        fence: None,
    }
}

fn none(_: &[&RunRecord]) -> Effects {
    Effects::default()
}

async fn put(store: &dyn Store, run: &RunRecord, log: Option<&str>) -> RunWrite {
    let mut w = store.put_runs(&[(run, log)], &none).await.unwrap();
    w.pop().unwrap_or(RunWrite::Ignored)
}

fn names(rows: Vec<(String, String)>) -> Vec<String> {
    rows.into_iter().map(|(n, _)| n).collect()
}

pub async fn a_created_task_reads_back_with_its_cluster_and_group(store: &dyn Store) {
    let t = task("backup", "ops");
    store
        .create_task(&t, None, &Effects::default())
        .await
        .unwrap();
    let got = store.task(&t.id).await.unwrap().unwrap();
    assert_eq!(got, t);
    assert_eq!(
        store.tasks_named("backup", None).await.unwrap(),
        vec![t.clone()]
    );
    assert_eq!(store.tasks().await.unwrap(), vec![t.clone()]);
    assert!(names(store.names(NameTable::Groups).await.unwrap()).contains(&"ops".into()));
    assert!(names(store.names(NameTable::Clusters).await.unwrap()).contains(&t.spec.cluster));
    assert_eq!(
        store.task_counts_by_cluster().await.unwrap(),
        vec![(t.spec.cluster.clone(), 1)]
    );
    let known = store.existing_tasks(&[&t.id, "nope"]).await.unwrap();
    assert!(known.contains(&t.id) && !known.contains("nope"));
    assert!(store.task("nope").await.unwrap().is_none());
}

pub async fn task_names_are_unique_within_a_group(store: &dyn Store) {
    let a = task("backup", "ops");
    store
        .create_task(&a, None, &Effects::default())
        .await
        .unwrap();
    let mut twin = task("backup", "ops");
    twin.id = "other-id".into();
    let err = store
        .create_task(&twin, None, &audited("task.create", "x"))
        .await;
    assert!(matches!(err, Err(Error::NameTaken(_))), "{err:?}");
    let b = task("backup", "dev");
    store
        .create_task(&b, None, &Effects::default())
        .await
        .unwrap();
    assert_eq!(store.tasks_named("backup", None).await.unwrap().len(), 2);
    assert_eq!(
        store.tasks_named("backup", Some("dev")).await.unwrap(),
        vec![b.clone()]
    );
    // Renaming into a taken name is refused too.
    let mut renamed = b.clone();
    renamed.spec.group = "ops".into();
    renamed.version = 2;
    let err = store.update_task(&renamed, None, &Effects::default()).await;
    assert!(matches!(err, Err(Error::NameTaken(_))), "{err:?}");
    assert!(
        store
            .audit_log(&AuditFilter::latest(10))
            .await
            .unwrap()
            .is_empty(),
        "a refused write left an audit row"
    );
}

pub async fn an_update_based_on_an_old_version_is_refused_and_writes_nothing(store: &dyn Store) {
    let t = task("backup", "ops");
    store
        .create_task(&t, None, &Effects::default())
        .await
        .unwrap();
    let mut v2 = t.clone();
    v2.version = 2;
    v2.spec.command = "echo two".into();
    store
        .update_task(&v2, None, &Effects::default())
        .await
        .unwrap();
    // Another editor, also starting from version 1.
    let mut late = t.clone();
    late.version = 2;
    late.spec.command = "echo late".into();
    let head = store.outbox_head().await.unwrap();
    let err = store
        .update_task(&late, None, &audited("task.edit", &t.id))
        .await;
    assert!(matches!(err, Err(Error::StaleVersion(_))), "{err:?}");
    let got = store.task(&t.id).await.unwrap().unwrap();
    assert_eq!((got.version, got.spec.command.as_str()), (2, "echo two"));
    assert_eq!(store.outbox_head().await.unwrap(), head);
    assert!(
        store
            .audit_log(&AuditFilter::latest(10))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn effects_commit_with_their_write_and_only_then(store: &dyn Store) {
    let t = task("backup", "ops");
    store
        .create_task(&t, None, &audited("task.create", &t.id))
        .await
        .unwrap();
    let log = store.audit_log(&AuditFilter::latest(10)).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].actor.as_str(), log[0].action.as_str()),
        ("alice", "task.create")
    );
    assert_eq!(log[0].target, t.id);
    let rows = store.outbox_after(0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        matches!(&rows[0].events[..], [Event::TaskDeleted { id }] if *id == t.id),
        "{rows:?}"
    );
    // A write that changes nothing commits no effects.
    let dup = store
        .add_name(NameTable::Groups, "ops", "", &audited("name.create", "ops"))
        .await
        .unwrap();
    assert!(!dup);
    assert!(
        !store
            .delete_task("nope", &audited("task.delete", "nope"))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .audit_log(&AuditFilter::latest(10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.outbox_after(0, 10).await.unwrap().len(), 1);
    // Effects alone (a stop request) commit too.
    store
        .commit_effects(&audited("task.stop", &t.id))
        .await
        .unwrap();
    assert_eq!(
        store.audit_log(&AuditFilter::latest(10)).await.unwrap()[0].action,
        "task.stop"
    );
    assert_eq!(store.outbox_after(0, 10).await.unwrap().len(), 2);
}

pub async fn deleting_a_task_deletes_its_runs_logs_and_history(store: &dyn Store) {
    let t = task("backup", "ops");
    let pkg = PackageInfo {
        sha256: "ab".repeat(32),
        file_name: "p.tar.gz".into(),
        size: 3,
        uploaded_at: Timestamp::now(),
        uploaded_by: "alice".into(),
    };
    store
        .create_task(&t, Some(&pkg), &Effects::default())
        .await
        .unwrap();
    let mut r = run("r1", &t.id, RunStatus::Succeeded);
    r.exit_code = Some(0);
    put(store, &r, Some("out")).await;
    assert!(store.delete_task(&t.id, &Effects::default()).await.unwrap());
    assert!(store.task(&t.id).await.unwrap().is_none());
    assert!(store.run("r1").await.unwrap().is_none());
    assert!(store.run_log("r1").await.unwrap().is_none());
    assert!(store.task_packages(&t.id).await.unwrap().is_empty());
    assert!(!store.delete_task(&t.id, &Effects::default()).await.unwrap());
}

pub async fn a_new_package_enters_the_task_history(store: &dyn Store) {
    let sha = "cd".repeat(32);
    assert!(!store.package_exists(&sha).await.unwrap());
    upload(store, &sha, &[b'x'; 10]).await;
    upload(store, &sha, &[b'x'; 10]).await;
    assert!(store.package_exists(&sha).await.unwrap());
    let t = task("backup", "ops");
    store
        .create_task(&t, None, &Effects::default())
        .await
        .unwrap();
    let pkg = PackageInfo {
        sha256: sha.clone(),
        file_name: "p.zip".into(),
        size: 10,
        uploaded_at: Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH),
        uploaded_by: "bob".into(),
    };
    let mut v2 = t.clone();
    v2.version = 2;
    store
        .update_task(&v2, Some(&pkg), &Effects::default())
        .await
        .unwrap();
    assert_eq!(store.task_packages(&t.id).await.unwrap(), vec![pkg]);
}

pub async fn groups_with_tasks_cannot_be_removed(store: &dyn Store) {
    assert!(
        store
            .add_name(
                NameTable::Groups,
                "empty",
                "nothing yet",
                &Effects::default()
            )
            .await
            .unwrap()
    );
    let t = task("backup", "ops");
    store
        .create_task(&t, None, &Effects::default())
        .await
        .unwrap();
    let err = store
        .remove_name(NameTable::Groups, "ops", &Effects::default())
        .await;
    assert!(matches!(err, Err(Error::InUse(_))), "{err:?}");
    assert!(
        store
            .remove_name(NameTable::Groups, "empty", &Effects::default())
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_name(NameTable::Groups, "empty", &Effects::default())
            .await
            .unwrap()
    );
    assert_eq!(
        names(store.names(NameTable::Groups).await.unwrap()),
        vec!["ops".to_string()]
    );
}

pub async fn the_fingerprint_changes_on_every_task_write(store: &dyn Store) {
    let empty = store.tasks_fingerprint().await.unwrap();
    let t = task("backup", "ops");
    store
        .create_task(&t, None, &Effects::default())
        .await
        .unwrap();
    let created = store.tasks_fingerprint().await.unwrap();
    let mut v2 = t.clone();
    v2.version = 2;
    store
        .update_task(&v2, None, &Effects::default())
        .await
        .unwrap();
    let edited = store.tasks_fingerprint().await.unwrap();
    store.delete_task(&t.id, &Effects::default()).await.unwrap();
    let deleted = store.tasks_fingerprint().await.unwrap();
    assert!(empty != created && created != edited && edited != deleted);
}

pub async fn run_reports_only_move_forward_and_keep_the_first_log(store: &dyn Store) {
    let running = run("r1", "t", RunStatus::Running);
    assert_eq!(put(store, &running, None).await, RunWrite::Applied);
    let mut done = run("r1", "t", RunStatus::Succeeded);
    done.exit_code = Some(0);
    assert_eq!(put(store, &done, Some("log one")).await, RunWrite::Applied);
    // Redelivery and late, out-of-order reports change nothing.
    assert_eq!(put(store, &done, Some("log two")).await, RunWrite::Ignored);
    assert_eq!(put(store, &running, None).await, RunWrite::Ignored);
    let got = store.run("r1").await.unwrap().unwrap();
    assert_eq!((got.status, got.exit_code), (RunStatus::Succeeded, Some(0)));
    assert_eq!(
        store.run_log("r1").await.unwrap().as_deref(),
        Some("log one")
    );
    // `lost` is a presumption: the real outcome replaces it.
    let lost = run("r2", "t", RunStatus::Lost);
    assert_eq!(put(store, &lost, None).await, RunWrite::Applied);
    let mut failed = run("r2", "t", RunStatus::Failed);
    failed.exit_code = Some(3);
    assert_eq!(put(store, &failed, None).await, RunWrite::Applied);
}

pub async fn a_batch_of_reports_ends_as_applying_them_in_order_would(store: &dyn Store) {
    let running = run("r1", "t", RunStatus::Running);
    let mut done = run("r1", "t", RunStatus::Succeeded);
    done.exit_code = Some(0);
    let mut again = done.clone();
    again.exit_code = Some(9);
    // More runs than one statement of a backend is likely to hold.
    let others: Vec<RunRecord> = (0..1207)
        .map(|i| run(&format!("other-{i}"), "t", RunStatus::Failed))
        .collect();
    let mut batch: Vec<(&RunRecord, Option<&str>)> = vec![
        (&running, None),
        (&done, Some("log one")),
        (&again, Some("log two")),
        (&running, None),
    ];
    batch.extend(others.iter().map(|r| (r, Some(""))));
    let writes = store.put_runs(&batch, &none).await.unwrap();
    use RunWrite::{Applied, Ignored};
    assert_eq!(writes[..4], [Ignored, Applied, Ignored, Ignored]);
    assert!(writes[4..].iter().all(|w| *w == Applied));
    let got = store.run("r1").await.unwrap().unwrap();
    assert_eq!((got.status, got.exit_code), (RunStatus::Succeeded, Some(0)));
    assert_eq!(
        store.run_log("r1").await.unwrap().as_deref(),
        Some("log one")
    );
    assert_eq!(
        store.run("other-1206").await.unwrap().map(|r| r.status),
        Some(RunStatus::Failed)
    );
    assert_eq!(
        store.run_log("other-1206").await.unwrap(),
        None,
        "an empty log has no row"
    );
    // The same batch again (a redelivery) changes nothing.
    let writes = store.put_runs(&batch, &none).await.unwrap();
    assert!(writes.iter().all(|w| *w == Ignored), "{writes:?}");
}

pub async fn the_effects_of_reports_see_only_the_runs_that_moved(store: &dyn Store) {
    let first = run("r1", "t", RunStatus::Running);
    put(store, &first, None).await;
    let second = run("r2", "t", RunStatus::Running);
    let batch = [(&first, None), (&second, None)];
    let announce = |moved: &[&RunRecord]| {
        Effects::events(
            moved
                .iter()
                .map(|r| Event::RunChanged {
                    run: Box::new((*r).clone()),
                })
                .collect(),
        )
    };
    store.put_runs(&batch, &announce).await.unwrap();
    let rows = store.outbox_after(0, 10).await.unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .flat_map(|r| &r.events)
        .filter_map(|e| match e {
            Event::RunChanged { run } => Some(run.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["r2"]);
    // Nothing moved: no outbox row at all.
    store.put_runs(&batch, &announce).await.unwrap();
    assert_eq!(store.outbox_after(0, 10).await.unwrap().len(), 1);
}

pub async fn a_requested_run_is_stored_once_by_id_and_by_key(store: &dyn Store) {
    let since = Timestamp::from_millisecond(0).unwrap_or(Timestamp::UNIX_EPOCH);
    let fx = audited("task.start", "t");
    let r1 = run("t-m1-1", "t", RunStatus::Scheduled);
    assert!(
        store
            .request_run(&r1, Some("k"), since, &fx)
            .await
            .unwrap()
            .is_none()
    );
    // The same key again: the earlier run, nothing written.
    let r2 = run("t-m2-1", "t", RunStatus::Scheduled);
    let earlier = store.request_run(&r2, Some("k"), since, &fx).await.unwrap();
    assert_eq!(earlier.map(|r| r.id), Some("t-m1-1".to_string()));
    assert!(store.run("t-m2-1").await.unwrap().is_none());
    assert_eq!(
        store
            .start_key("t", "k", since)
            .await
            .unwrap()
            .map(|r| r.id),
        Some("t-m1-1".to_string())
    );
    // The same id again (a retry requested twice): stored once.
    let again = store.request_run(&r1, None, since, &fx).await.unwrap();
    assert_eq!(again.map(|r| r.id), Some("t-m1-1".to_string()));
    assert_eq!(
        store
            .audit_log(&AuditFilter::latest(10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.outbox_after(0, 10).await.unwrap().len(), 1);
    // A key older than the window is forgotten: a new run.
    let later = Timestamp::from_millisecond(5_000).unwrap_or(Timestamp::UNIX_EPOCH);
    assert!(store.start_key("t", "k", later).await.unwrap().is_none());
    let mut r3 = run("t-m3-1", "t", RunStatus::Scheduled);
    r3.scheduled_at = Timestamp::from_millisecond(9_000).unwrap_or(Timestamp::UNIX_EPOCH);
    assert!(
        store
            .request_run(&r3, Some("k"), later, &fx)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .start_key("t", "k", later)
            .await
            .unwrap()
            .map(|r| r.id),
        Some("t-m3-1".to_string())
    );
}

pub async fn active_runs_are_those_not_finished(store: &dyn Store) {
    for (i, status) in RunStatus::ALL.into_iter().enumerate() {
        put(store, &run(&format!("a{i}"), "t", status), None).await;
    }
    put(store, &run("other", "u", RunStatus::Running), None).await;
    let mut active: Vec<RunStatus> = store
        .active_runs(Some("t"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect();
    active.sort_by_key(|s| s.rank());
    assert_eq!(active, RunStatus::ACTIVE);
    assert_eq!(store.active_runs(None).await.unwrap().len(), 3);
}

pub async fn node_loss_marks_only_that_nodes_running_runs_lost(store: &dyn Store) {
    let on_n1 = run("r1", "t", RunStatus::Running);
    let mut on_n2 = run("r2", "t", RunStatus::Running);
    on_n2.node = "n2".into();
    let mut done = run("r3", "t", RunStatus::Succeeded);
    done.exit_code = Some(0);
    let request = run("r4", "t", RunStatus::Scheduled);
    for r in [&on_n1, &on_n2, &done, &request] {
        put(store, r, None).await;
    }
    let at = Timestamp::from_second(1_900_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let lost = store
        .mark_node_runs_lost("n1", "n1 left", at, &|lost: &[&RunRecord]| {
            Effects::events(vec![Event::NodeDown {
                cluster: "default".into(),
                name: format!("{} lost", lost.len()),
            }])
        })
        .await
        .unwrap();
    assert_eq!(
        lost.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r1"]
    );
    let got = store.run("r1").await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.finished_at, got.message.as_deref()),
        (RunStatus::Lost, Some(at), Some("n1 left"))
    );
    assert_eq!(
        store.run("r2").await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert_eq!(
        store.run("r3").await.unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    assert_eq!(
        store.run("r4").await.unwrap().unwrap().status,
        RunStatus::Scheduled,
        "a request not taken stays, to follow its task"
    );
    assert!(matches!(
        &store.outbox_after(0, 10).await.unwrap()[0].events[..],
        [Event::NodeDown { name, .. }] if name == "1 lost"
    ));
}

pub async fn a_request_not_taken_moves_and_a_taken_one_stays(store: &dyn Store) {
    let waiting = run("waiting", "t", RunStatus::Scheduled);
    let taken = RunRecord {
        started_at: Some(waiting.scheduled_at),
        ..run("taken", "t", RunStatus::Running)
    };
    for r in [&waiting, &taken] {
        put(store, r, None).await;
    }
    let moved = store
        .move_requests(
            &[
                ("waiting", "n1", "n2"),
                ("taken", "n1", "n2"),
                ("absent", "n1", "n2"),
            ],
            &|moved: &[&RunRecord]| {
                Effects::events(vec![Event::NodeDown {
                    cluster: "default".into(),
                    name: format!("{} moved", moved.len()),
                }])
            },
        )
        .await
        .unwrap();
    assert_eq!(
        moved
            .iter()
            .map(|r| (r.id.as_str(), r.node.as_str()))
            .collect::<Vec<_>>(),
        [("waiting", "n2")]
    );
    assert_eq!(store.run("waiting").await.unwrap().unwrap().node, "n2");
    assert_eq!(store.run("taken").await.unwrap().unwrap().node, "n1");
    // Moved again from where it no longer is: nothing changes, nothing is announced.
    let again = store
        .move_requests(&[("waiting", "n1", "n3")], &|_: &[&RunRecord]| {
            Effects::events(vec![Event::NodeDown {
                cluster: "default".into(),
                name: "moved again".into(),
            }])
        })
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(store.run("waiting").await.unwrap().unwrap().node, "n2");
    let rows = store.outbox_after(0, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "one move, one outbox row");
    assert!(matches!(
        &rows[0].events[..],
        [Event::NodeDown { name, .. }] if name == "1 moved"
    ));
}

pub async fn orphans_are_the_running_runs_a_node_does_not_list_started_before_its_statement(
    store: &dyn Store,
) {
    let ms = |m: i64| Timestamp::from_millisecond(m).unwrap_or(Timestamp::UNIX_EPOCH);
    let running = |id: &str, started: i64| RunRecord {
        started_at: Some(ms(started)),
        ..run(id, "t", RunStatus::Running)
    };
    let listed = running("listed", 1_000);
    let orphan = running("orphan", 1_000);
    let after = running("after", 9_000); // its report may have overtaken the statement
    let requested = run("requested", "t", RunStatus::Scheduled); // still being delivered
    let elsewhere = RunRecord {
        node: "n2".into(),
        ..running("elsewhere", 1_000)
    };
    for r in [&listed, &orphan, &after, &requested, &elsewhere] {
        put(store, r, None).await;
    }
    let at = ms(10_000);
    let lost = store
        .mark_orphans_lost(
            "n1",
            &["listed".to_string()],
            ms(5_000),
            "orphaned",
            at,
            &|lost: &[&RunRecord]| {
                Effects::events(
                    lost.iter()
                        .map(|r| Event::RunChanged {
                            run: Box::new((*r).clone()),
                        })
                        .collect(),
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(
        lost.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["orphan"]
    );
    let status = |id: &'static str| async move { store.run(id).await.unwrap().unwrap().status };
    assert_eq!(status("orphan").await, RunStatus::Lost);
    for id in ["listed", "after", "elsewhere"] {
        assert_eq!(status(id).await, RunStatus::Running, "{id}");
    }
    assert_eq!(status("requested").await, RunStatus::Scheduled);
    let rows = store.outbox_after(0, 10).await.unwrap();
    assert!(matches!(
        &rows.last().unwrap().events[..],
        [Event::RunChanged { run }] if run.id == "orphan" && run.status == RunStatus::Lost
    ));
    // A real report still replaces the presumption.
    let mut real = orphan.clone();
    real.status = RunStatus::Succeeded;
    real.exit_code = Some(0);
    assert_eq!(put(store, &real, None).await, RunWrite::Applied);
}

pub async fn run_listings_filter_and_order_newest_first(store: &dyn Store) {
    for i in 0..5i64 {
        let mut r = run(
            &format!("r{i}"),
            if i % 2 == 0 { "t" } else { "u" },
            RunStatus::Failed,
        );
        r.scheduled_at = Timestamp::from_second(1_000 + i).unwrap_or(Timestamp::UNIX_EPOCH);
        if i == 4 {
            r.status = RunStatus::Succeeded;
        }
        put(store, &r, None).await;
    }
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = RunFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(store.runs(&all).await.unwrap()),
        ["r4", "r3", "r2", "r1", "r0"]
    );
    let of_t = RunFilter {
        task: Some("t".into()),
        ..all.clone()
    };
    assert_eq!(ids(store.runs(&of_t).await.unwrap()), ["r4", "r2", "r0"]);
    let failed_since = RunFilter {
        statuses: vec![RunStatus::Failed],
        since: Timestamp::from_second(1_001).ok(),
        until: Timestamp::from_second(1_003).ok(),
        ..all.clone()
    };
    assert_eq!(
        ids(store.runs(&failed_since).await.unwrap()),
        ["r3", "r2", "r1"]
    );
    let two = RunFilter { limit: 2, ..all };
    assert_eq!(ids(store.runs(&two).await.unwrap()), ["r4", "r3"]);
}

pub fn token_row(hash: &str, name: &str, kind: TokenKind, user: Option<&str>) -> TokenRow {
    TokenRow {
        hash: hash.into(),
        name: name.into(),
        kind,
        user: user.map(str::to_string),
        scope: None,
        cluster: None,
        created_at: at(0),
        expires_at: None,
        last_used_at: None,
        last_used_from: None,
    }
}

fn grant(role: Role, group: Option<&str>) -> Grant {
    Grant {
        role,
        group: group.map(str::to_string),
    }
}

pub async fn tokens_read_back_expire_and_go_with_their_user(store: &dyn Store) {
    let none = Effects::default();
    let user = UserRow {
        name: "ann".into(),
        password_hash: "$argon2id$x".into(),
        grants: vec![],
        created_at: at(0),
        created_by: "admin".into(),
        email: None,
    };
    store.create_user(&user, &none).await.unwrap();
    let agent = token_row("h1", "agent", TokenKind::Bootstrap, None);
    let mut session = token_row("h2", "session 1", TokenKind::Session, Some("ann"));
    session.expires_at = Some(at(100));
    let mut api = token_row("h3", "ci", TokenKind::Api, Some("ann"));
    api.scope = Some(vec![grant(Role::Viewer, Some("ops"))]);
    api.expires_at = Some(at(1000));
    for t in [&agent, &session, &api] {
        store.add_token(t, &none).await.unwrap();
    }
    assert_eq!(store.token("h3").await.unwrap().as_ref(), Some(&api));
    assert!(store.token("nope").await.unwrap().is_none());
    assert!(
        store.add_token(&agent, &none).await.is_err(),
        "a token hash is stored once"
    );
    let again = token_row("h4", "ci", TokenKind::Api, Some("ann"));
    assert!(matches!(
        store.add_token(&again, &none).await,
        Err(Error::NameTaken(_))
    ));
    let of_ann = store.tokens(None, Some("ann")).await.unwrap();
    assert_eq!(of_ann.len(), 2);
    let apis = store.tokens(Some(TokenKind::Api), None).await.unwrap();
    assert_eq!(apis, vec![api.clone()]);

    store
        .touch_tokens(&[("h3".into(), at(50), "10.0.0.9".into())])
        .await
        .unwrap();
    // An older use recorded later does not go back.
    store
        .touch_tokens(&[("h3".into(), at(40), "10.0.0.1".into())])
        .await
        .unwrap();
    let used = store.token("h3").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(at(50)));
    assert_eq!(used.last_used_from.as_deref(), Some("10.0.0.9"));

    assert_eq!(store.prune_tokens(at(500)).await.unwrap(), 1, "the session");
    assert!(store.token("h2").await.unwrap().is_none());
    assert!(store.token("h1").await.unwrap().is_some(), "no expiry");
    assert!(store.delete_token("h1", &none).await.unwrap());
    assert!(!store.delete_token("h1", &none).await.unwrap());
    assert!(store.delete_user("ann", &none).await.unwrap());
    assert!(
        store.token("h3").await.unwrap().is_none(),
        "a user's tokens go with it"
    );
}

pub async fn users_read_back_with_grants_and_a_new_password_ends_sessions(store: &dyn Store) {
    let none = Effects::default();
    let mut user = UserRow {
        name: "bob".into(),
        password_hash: "$argon2id$one".into(),
        grants: vec![grant(Role::Editor, Some("ops")), grant(Role::Viewer, None)],
        created_at: at(5),
        created_by: "admin".into(),
        email: Some("bob@example.com".into()),
    };
    store
        .create_user(&user, &audited("user.create", "bob"))
        .await
        .unwrap();
    assert!(matches!(
        store.create_user(&user, &none).await,
        Err(Error::NameTaken(_))
    ));
    user.grants.sort();
    let mut got = store.user("bob").await.unwrap().unwrap();
    got.grants.sort();
    assert_eq!(got, user);
    assert_eq!(store.users().await.unwrap().len(), 1);
    assert!(store.user("nobody").await.unwrap().is_none());

    let session = token_row("s1", "session", TokenKind::Session, Some("bob"));
    let api = token_row("a1", "ci", TokenKind::Api, Some("bob"));
    store.add_token(&session, &none).await.unwrap();
    store.add_token(&api, &none).await.unwrap();
    assert!(
        store
            .set_password("bob", "$argon2id$two", &none)
            .await
            .unwrap()
    );
    assert_eq!(
        store.user("bob").await.unwrap().unwrap().password_hash,
        "$argon2id$two"
    );
    assert!(store.token("s1").await.unwrap().is_none(), "sessions end");
    assert!(
        store.token("a1").await.unwrap().is_some(),
        "API tokens stay"
    );
    assert!(!store.set_password("nobody", "x", &none).await.unwrap());

    let only = [grant(Role::Operator, Some("web"))];
    assert!(store.set_grants("bob", &only, &none).await.unwrap());
    assert_eq!(store.user("bob").await.unwrap().unwrap().grants, only);
    assert!(!store.set_grants("nobody", &only, &none).await.unwrap());
    // The address alerts to `user:bob` go to: set, cleared, and refused for nobody.
    assert!(
        store
            .set_email("bob", Some("b@example.com"), &none)
            .await
            .unwrap()
    );
    assert_eq!(
        store.user("bob").await.unwrap().unwrap().email.as_deref(),
        Some("b@example.com")
    );
    assert!(store.set_email("bob", None, &none).await.unwrap());
    assert_eq!(store.users().await.unwrap()[0].email, None);
    assert!(!store.set_email("nobody", None, &none).await.unwrap());
    assert!(
        store
            .audit_log(&AuditFilter::latest(10))
            .await
            .unwrap()
            .iter()
            .any(|a| a.action == "user.create")
    );
}

pub async fn failures_count_per_key_within_their_window(store: &dyn Store) {
    let w = std::time::Duration::from_secs(60);
    assert_eq!(store.failures(&["a", "b"], at(0), w).await.unwrap(), [0, 0]);
    assert_eq!(
        store.note_failures(&["a", "b"], at(0), w).await.unwrap(),
        [1, 1]
    );
    assert_eq!(store.note_failures(&["a"], at(10), w).await.unwrap(), [2]);
    assert_eq!(
        store.failures(&["a", "b"], at(30), w).await.unwrap(),
        [2, 1]
    );
    // The window ran out: the count starts over.
    assert_eq!(store.failures(&["a"], at(61), w).await.unwrap(), [0]);
    assert_eq!(store.note_failures(&["a"], at(61), w).await.unwrap(), [1]);
    store.clear_failures("a").await.unwrap();
    assert_eq!(
        store.failures(&["a", "b"], at(62), w).await.unwrap(),
        [0, 0]
    );
}

pub async fn run_listings_filter_by_their_tasks_groups(store: &dyn Store) {
    for (name, group) in [("t", "ops"), ("u", "web")] {
        store
            .create_task(&task(name, group), None, &Effects::default())
            .await
            .unwrap();
        let r = run(
            &format!("r-{name}"),
            &format!("id-{group}-{name}"),
            RunStatus::Failed,
        );
        put(store, &r, None).await;
    }
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let of = |groups: Option<Vec<&str>>| RunFilter {
        groups: groups.map(|g| g.into_iter().map(str::to_string).collect()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(store.runs(&of(Some(vec!["ops"]))).await.unwrap()),
        ["r-t"]
    );
    assert!(store.runs(&of(Some(vec![]))).await.unwrap().is_empty());
    assert_eq!(store.runs(&of(None)).await.unwrap().len(), 2);
}

pub async fn the_outbox_delivers_in_commit_order_and_prunes_without_going_back(store: &dyn Store) {
    assert_eq!(store.outbox_head().await.unwrap(), 0);
    for i in 0..3 {
        store
            .create_task(
                &task(&format!("t{i}"), "g"),
                None,
                &audited("task.create", &format!("t{i}")),
            )
            .await
            .unwrap();
    }
    let rows = store.outbox_after(0, 10).await.unwrap();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let targets: Vec<String> = rows
        .iter()
        .flat_map(|r| &r.events)
        .filter_map(|e| match e {
            Event::TaskDeleted { id } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(targets, ["t0", "t1", "t2"]);
    assert_eq!(
        store.outbox_after(seqs[0], 1).await.unwrap()[0].seq,
        seqs[1]
    );
    let head = store.outbox_head().await.unwrap();
    assert_eq!(head, seqs[2]);
    // Pruning everything keeps the newest row, so the next row's seq is still higher.
    let future = Timestamp::now() + jiff::SignedDuration::from_hours(1);
    assert_eq!(store.prune_outbox(future, future).await.unwrap(), 2);
    assert_eq!(store.outbox_head().await.unwrap(), head);
    store
        .create_task(&task("t3", "g"), None, &audited("task.create", "t3"))
        .await
        .unwrap();
    assert!(store.outbox_head().await.unwrap() > head);
}

pub async fn outbox_cursors_are_per_center(store: &dyn Store) {
    assert_eq!(store.outbox_cursor("a").await.unwrap(), None);
    store.save_outbox_cursor("a", 5).await.unwrap();
    store.save_outbox_cursor("b", 2).await.unwrap();
    store.save_outbox_cursor("a", 7).await.unwrap();
    assert_eq!(store.outbox_cursor("a").await.unwrap(), Some(7));
    assert_eq!(store.outbox_cursor("b").await.unwrap(), Some(2));
}

pub async fn the_outbox_keeps_rows_a_live_center_has_not_delivered(store: &dyn Store) {
    for i in 0..4 {
        store
            .commit_effects(&audited("task.stop", &format!("t{i}")))
            .await
            .unwrap();
    }
    let seqs: Vec<i64> = store
        .outbox_after(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    let long_ago = Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let a_minute_ago = Timestamp::now() - jiff::SignedDuration::from_mins(1);
    // Center a is live and has delivered the first two rows: only those may go.
    store.save_outbox_cursor("a", seqs[1]).await.unwrap();
    assert_eq!(store.prune_outbox(a_minute_ago, long_ago).await.unwrap(), 2);
    let left: Vec<i64> = store
        .outbox_after(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(left, seqs[2..]);
    // A second live center that has delivered nothing since holds the rest.
    store.save_outbox_cursor("b", seqs[1]).await.unwrap();
    store.save_outbox_cursor("a", seqs[3]).await.unwrap();
    assert_eq!(store.prune_outbox(a_minute_ago, long_ago).await.unwrap(), 0);
    // A center whose cursor is older than `live_since` no longer holds anything back.
    let later = Timestamp::now() + jiff::SignedDuration::from_mins(1);
    assert_eq!(
        store.prune_outbox(later, long_ago).await.unwrap(),
        0,
        "no live center: only the age cap"
    );
    store.save_outbox_cursor("b", seqs[3]).await.unwrap();
    assert_eq!(
        store.prune_outbox(a_minute_ago, long_ago).await.unwrap(),
        1,
        "all delivered: all but the newest row go"
    );
    assert_eq!(store.outbox_head().await.unwrap(), seqs[3]);
}

/// Finished runs `<name>-<i>` of `task`, one a minute from `at(0)`, each with a log.
async fn finished_runs(store: &dyn Store, task: &Task, n: i64) {
    let name = &task.spec.name;
    let runs: Vec<RunRecord> = (0..n)
        .map(|i| {
            let mut r = run(&format!("{name}-{i}"), &task.id, RunStatus::Succeeded);
            r.scheduled_at = at(i * 60);
            r
        })
        .collect();
    let reports: Vec<_> = runs.iter().map(|r| (r, Some("out"))).collect();
    store.put_runs(&reports, &none).await.unwrap();
}

async fn run_ids(store: &dyn Store, task: &str) -> Vec<String> {
    let f = RunFilter {
        task: Some(task.into()),
        limit: 10_000,
        ..Default::default()
    };
    let mut ids: Vec<String> = store
        .runs(&f)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

pub async fn retention_deletes_finished_runs_past_the_count_or_age_never_active_ones(
    store: &dyn Store,
) {
    let t = task("busy", "g");
    store
        .create_task(&t, None, &Effects::default())
        .await
        .unwrap();
    finished_runs(store, &t, 10).await;
    // An old run still active stays, whatever its age.
    let mut active = run("busy-active", &t.id, RunStatus::Running);
    active.scheduled_at = at(-3600);
    put(store, &active, None).await;

    // Newest 6 kept, in batches of 3: 3, then 1, then nothing.
    assert_eq!(store.prune_runs(&t.id, 6, at(-1), 3).await.unwrap(), 3);
    assert_eq!(store.prune_runs(&t.id, 6, at(-1), 3).await.unwrap(), 1);
    assert_eq!(store.prune_runs(&t.id, 6, at(-1), 3).await.unwrap(), 0);
    let mut want: Vec<String> = (4..10).map(|i| format!("busy-{i}")).collect();
    want.push("busy-active".into());
    want.sort();
    assert_eq!(run_ids(store, &t.id).await, want);
    assert_eq!(
        store.run_log("busy-3").await.unwrap(),
        None,
        "logs go with their runs"
    );
    assert_eq!(
        store.run_log("busy-4").await.unwrap().as_deref(),
        Some("out")
    );
    // By age: everything scheduled before minute 8 goes, though the count would keep it.
    assert_eq!(
        store.prune_runs(&t.id, 100, at(8 * 60), 100).await.unwrap(),
        4
    );
    assert_eq!(
        run_ids(store, &t.id).await,
        ["busy-8", "busy-9", "busy-active"]
    );
    // Another task's runs are not touched.
    let other = task("other", "g");
    store
        .create_task(&other, None, &Effects::default())
        .await
        .unwrap();
    finished_runs(store, &other, 2).await;
    assert_eq!(store.prune_runs(&t.id, 1, at(0), 100).await.unwrap(), 1);
    assert_eq!(run_ids(store, &other.id).await.len(), 2);
}

pub async fn a_report_of_a_run_retention_deleted_is_not_stored_again(store: &dyn Store) {
    let t = task("late", "g");
    store
        .create_task(&t, None, &Effects::default())
        .await
        .unwrap();
    finished_runs(store, &t, 5).await;
    assert_eq!(store.prune_runs(&t.id, 2, at(-1), 100).await.unwrap(), 3);
    // A spooled report of a deleted run (or of an older instant) arrives late: ignored.
    let mut late = run("late-1", &t.id, RunStatus::Failed);
    late.scheduled_at = at(60);
    let mut older = run("late-old", &t.id, RunStatus::Succeeded);
    older.scheduled_at = at(-60);
    let writes = store
        .put_runs(&[(&late, Some("again")), (&older, None)], &none)
        .await
        .unwrap();
    assert_eq!(writes, [RunWrite::Ignored, RunWrite::Ignored]);
    assert!(store.run("late-1").await.unwrap().is_none());
    assert!(store.run_log("late-1").await.unwrap().is_none());
    // A kept run still moves forward, and a new instant is stored.
    let mut kept = run("late-4", &t.id, RunStatus::Running);
    kept.scheduled_at = at(4 * 60);
    let mut new = run("late-5", &t.id, RunStatus::Running);
    new.scheduled_at = at(5 * 60);
    assert_eq!(put(store, &new, None).await, RunWrite::Applied);
    assert_eq!(run_ids(store, &t.id).await, ["late-3", "late-4", "late-5"]);
    assert_eq!(
        put(store, &kept, None).await,
        RunWrite::Ignored,
        "finished stays finished"
    );
}

pub async fn audit_rows_go_by_age(store: &dyn Store) {
    for (i, target) in ["old-1", "old-2", "new"].iter().enumerate() {
        let mut fx = audited("task.create", target);
        if let Some(a) = fx.audit.as_mut() {
            a.at = at(if *target == "new" { 3600 } else { i as i64 });
        }
        store.commit_effects(&fx).await.unwrap();
    }
    assert_eq!(store.prune_audit(at(60), 1).await.unwrap(), 1);
    assert_eq!(store.prune_audit(at(60), 10).await.unwrap(), 1);
    assert_eq!(store.prune_audit(at(60), 10).await.unwrap(), 0);
    let left: Vec<String> = store
        .audit_log(&AuditFilter::latest(10))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.target)
        .collect();
    assert_eq!(left, ["new"]);
}

pub async fn package_histories_trim_to_their_newest_and_unnamed_packages_are_collected(
    store: &dyn Store,
) {
    let mut t = task("pkg", "g");
    for (i, sha) in ["p1", "p2", "p3"].iter().enumerate() {
        upload(store, sha, &[b'x'; 1]).await;
        let info = PackageInfo {
            sha256: sha.to_string(),
            file_name: "f.sh".into(),
            size: 1,
            uploaded_at: at(i as i64),
            uploaded_by: "alice".into(),
        };
        if i == 0 {
            store
                .create_task(&t, Some(&info), &Effects::default())
                .await
                .unwrap();
        } else {
            t.version += 1;
            store
                .update_task(&t, Some(&info), &Effects::default())
                .await
                .unwrap();
        }
    }
    upload(store, "loose", &[b'x'; 1]).await;
    assert_eq!(store.trim_package_histories(2).await.unwrap(), 1);
    let kept: Vec<String> = store
        .task_packages(&t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.sha256)
        .collect();
    assert_eq!(kept, ["p3", "p2"]);
    // Recorded after `before`: nothing is collected yet.
    let before = Timestamp::now() - jiff::SignedDuration::from_hours(1);
    assert!(store.collect_packages(before, 10).await.unwrap().is_empty());
    let later = Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let mut gone = store.collect_packages(later, 10).await.unwrap();
    gone.sort();
    assert_eq!(gone, ["loose", "p1"]);
    assert!(store.package_exists("p2").await.unwrap());
    assert!(!store.package_exists("p1").await.unwrap());
    // A repeat upload refreshes a package's age, so it is not collected under its uploader.
    store.delete_task(&t.id, &Effects::default()).await.unwrap();
    let mid = a_millisecond_later();
    upload(store, "p2", &[b'x'; 1]).await;
    assert_eq!(store.collect_packages(mid, 10).await.unwrap(), ["p3"]);
}

/// Stores `bytes` as package `sha`: its chunks, then its row.
pub async fn upload(store: &dyn Store, sha: &str, bytes: &[u8]) {
    for (n, chunk) in bytes.chunks(super::PACKAGE_CHUNK).enumerate() {
        store.put_package_chunk(sha, n as u32, chunk).await.unwrap();
    }
    store
        .add_package(sha, bytes.len() as u64, &Effects::default())
        .await
        .unwrap();
}

pub async fn package_bytes_read_back_chunk_by_chunk_once_recorded_whole(store: &dyn Store) {
    let chunk = super::PACKAGE_CHUNK;
    let bytes: Vec<u8> = (0..chunk * 2 + 123).map(|i| (i % 251) as u8).collect();
    let sha = "ab".repeat(32);
    // Chunks alone are not a package: none reads back, and recording it with one missing
    // is refused.
    store
        .put_package_chunk(&sha, 0, &bytes[..chunk])
        .await
        .unwrap();
    store
        .put_package_chunk(&sha, 2, &bytes[2 * chunk..])
        .await
        .unwrap();
    assert_eq!(store.package_chunk(&sha, 0).await.unwrap(), None);
    let err = store
        .add_package(&sha, bytes.len() as u64, &Effects::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Incomplete(_)), "{err}");
    assert!(!store.package_exists(&sha).await.unwrap());
    // With every chunk it is recorded, and reads back whole, chunk by chunk.
    store
        .put_package_chunk(&sha, 1, &bytes[chunk..2 * chunk])
        .await
        .unwrap();
    store
        .add_package(&sha, bytes.len() as u64, &Effects::default())
        .await
        .unwrap();
    assert_eq!(
        store.package_size(&sha).await.unwrap(),
        Some(bytes.len() as u64)
    );
    let mut back = Vec::new();
    for n in 0..3 {
        back.extend(store.package_chunk(&sha, n).await.unwrap().unwrap());
    }
    assert!(back == bytes, "the bytes read back differ");
    assert_eq!(store.package_chunk(&sha, 3).await.unwrap(), None);
    // Only chunks no package is recorded for are collected, and only old ones.
    store.put_package_chunk("gone", 0, b"x").await.unwrap();
    let later = a_millisecond_later();
    assert_eq!(store.collect_chunks(later, 10).await.unwrap(), 1);
    assert_eq!(store.collect_chunks(later, 10).await.unwrap(), 0);
    assert!(store.package_chunk(&sha, 2).await.unwrap().is_some());
}

pub async fn task_pages_follow_group_and_name_and_filter_in_the_store(store: &dyn Store) {
    for (n, g) in [
        ("b-1", "g2"),
        ("a-2", "g1"),
        ("a-1", "g1"),
        ("a-10", "g2"),
        ("b-2", "g1"),
    ] {
        store
            .create_task(&task(n, g), None, &Effects::default())
            .await
            .unwrap();
    }
    let names = |ts: Vec<Task>| -> Vec<String> {
        ts.iter()
            .map(|t| format!("{}/{}", t.spec.group, t.spec.name))
            .collect()
    };
    let page = |after: Option<(&str, &str)>, limit| TaskPage {
        after: after.map(|(g, n)| (g.to_string(), n.to_string())),
        limit,
        ..TaskPage::default()
    };
    let first = store.task_page(&page(None, 3)).await.unwrap();
    assert_eq!(names(first), ["g1/a-1", "g1/a-2", "g1/b-2"]);
    let rest = store
        .task_page(&page(Some(("g1", "b-2")), 3))
        .await
        .unwrap();
    assert_eq!(names(rest), ["g2/a-10", "g2/b-1"]);
    let prefixed = TaskPage {
        name_prefix: Some("a-1".into()),
        ..page(None, 10)
    };
    assert_eq!(
        names(store.task_page(&prefixed).await.unwrap()),
        ["g1/a-1", "g2/a-10"]
    );
    let in_group = TaskPage {
        group: Some("g2".into()),
        cluster: Some("default".into()),
        ..page(None, 10)
    };
    assert_eq!(
        names(store.task_page(&in_group).await.unwrap()),
        ["g2/a-10", "g2/b-1"]
    );
}

pub async fn a_shared_secret_is_the_first_one_offered(store: &dyn Store) {
    assert_eq!(store.shared_secret("k", "first").await.unwrap(), "first");
    // A second center offering its own gets the first; another name is its own.
    assert_eq!(store.shared_secret("k", "second").await.unwrap(), "first");
    assert_eq!(store.shared_secret("other", "x").await.unwrap(), "x");
}

pub async fn a_deposed_leaders_writes_change_nothing(store: &dyn Store) {
    assert_eq!(store.epoch().await.unwrap(), 0);
    let first = store.take_epoch("center-a").await.unwrap();
    let p = |task: &str| Placement {
        task: task.into(),
        node: "n1".into(),
        cluster: "c".into(),
    };
    store
        .record_placements(&[p("t1")], &[], at(10), first)
        .await
        .unwrap();
    put(store, &run("r1", "t1", RunStatus::Running), None).await;
    // Another center takes the lead while the first is frozen.
    let second = store.take_epoch("center-b").await.unwrap();
    assert!(second > first);
    assert_eq!(store.epoch().await.unwrap(), second);
    // The first wakes up and writes as if it still led: every write is refused whole.
    let err = store
        .record_placements(&[p("t2")], &[p("t1")], at(20), first)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Deposed(_)), "{err}");
    let stale = |_: &[&RunRecord]| Effects {
        fence: Some(first),
        ..Effects::events(vec![Event::NodeDown {
            cluster: "c".into(),
            name: "n1".into(),
        }])
    };
    let head = store.outbox_head().await.unwrap();
    let err = store
        .mark_node_runs_lost("n1", "n1 left", at(30), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Deposed(_)), "{err}");
    let err = store.commit_effects(&stale(&[])).await.unwrap_err();
    assert!(matches!(err, Error::Deposed(_)), "{err}");
    assert_eq!(store.current_placements().await.unwrap(), [p("t1")]);
    assert_eq!(
        store.run("r1").await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert_eq!(store.outbox_head().await.unwrap(), head, "no event escaped");
    // The new leader's writes go through.
    let current = |_: &[&RunRecord]| Effects {
        fence: Some(second),
        ..Effects::default()
    };
    let lost = store
        .mark_node_runs_lost("n1", "n1 left", at(30), &current)
        .await
        .unwrap();
    assert_eq!(lost.len(), 1);
    store
        .record_placements(&[], &[p("t1")], at(30), second)
        .await
        .unwrap();
    assert!(store.current_placements().await.unwrap().is_empty());
}

/// A timestamp after every write so far (stores keep milliseconds): the clock is read until
/// its millisecond changes, which takes at most one.
fn a_millisecond_later() -> Timestamp {
    let start = Timestamp::now().as_millisecond();
    loop {
        let now = Timestamp::now();
        if now.as_millisecond() > start {
            return now;
        }
        std::hint::spin_loop();
    }
}

pub async fn node_and_join_token_names_are_unique_where_they_must_be(store: &dyn Store) {
    let none = Effects::default();
    let mut node = token_row("n1", "node-1", TokenKind::Node, None);
    node.cluster = Some("prod".into());
    store.add_token(&node, &none).await.unwrap();
    assert_eq!(store.token("n1").await.unwrap().as_ref(), Some(&node));
    let mut twin = token_row("n2", "node-1", TokenKind::Node, None);
    twin.cluster = Some("prod".into());
    assert!(matches!(
        store.add_token(&twin, &none).await,
        Err(Error::NameTaken(_))
    ));
    twin.cluster = Some("staging".into());
    store
        .add_token(&twin, &none)
        .await
        .expect("the same name in another cluster is another node");
    let join = token_row("j1", "rack-4", TokenKind::Join, None);
    store.add_token(&join, &none).await.unwrap();
    let mut again = token_row("j2", "rack-4", TokenKind::Join, None);
    again.cluster = Some("prod".into());
    assert!(matches!(
        store.add_token(&again, &none).await,
        Err(Error::NameTaken(_))
    ));
    let nodes = store.tokens(Some(TokenKind::Node), None).await.unwrap();
    assert_eq!(nodes.len(), 2);
}

pub async fn placements_open_close_and_say_who_held_a_task_when(store: &dyn Store) {
    let p = |task: &str, node: &str| Placement {
        task: task.into(),
        node: node.into(),
        cluster: "c".into(),
    };
    let fence = store.take_epoch("me").await.unwrap();
    store
        .record_placements(&[p("t1", "a"), p("t2", "a")], &[], at(10), fence)
        .await
        .unwrap();
    // Opening what is open changes nothing: `since` stays.
    store
        .record_placements(&[p("t1", "a")], &[], at(15), fence)
        .await
        .unwrap();
    // t1 moves from a to b at 20.
    store
        .record_placements(&[p("t1", "b")], &[p("t1", "a")], at(20), fence)
        .await
        .unwrap();
    let mut now = store.current_placements().await.unwrap();
    now.sort_by(|x, y| (&x.task, &x.node).cmp(&(&y.task, &y.node)));
    assert_eq!(now, vec![p("t1", "b"), p("t2", "a")]);
    assert!(store.holds(&p("t1", "b")).await.unwrap());
    assert!(!store.holds(&p("t1", "a")).await.unwrap());
    let other_cluster = Placement {
        cluster: "d".into(),
        ..p("t1", "b")
    };
    assert!(!store.holds(&other_cluster).await.unwrap());
    let held = store
        .held(
            &[
                (p("t1", "a"), at(12)), // a held it from 10 to 20
                (p("t1", "a"), at(25)), // but not after 20
                (p("t1", "b"), at(5)),  // b from 20 on: [5, 30] overlaps
                (p("t1", "c"), at(0)),  // c never
                (p("t2", "a"), at(25)), // still open
            ],
            at(30),
        )
        .await
        .unwrap();
    assert_eq!(held, [true, false, true, false, true]);
    let held = store.held(&[(p("t1", "b"), at(0))], at(15)).await.unwrap();
    assert_eq!(held, [false], "b did not hold it before 20");

    // Packages: a node holds those its current tasks have had.
    upload(store, "sha-1", &[b'x'; 1]).await;
    let mut t = task("pkg-held", "g");
    t.id = "t2".into();
    let info = PackageInfo {
        sha256: "sha-1".into(),
        file_name: "f.sh".into(),
        size: 1,
        uploaded_at: at(0),
        uploaded_by: "alice".into(),
    };
    store
        .create_task(&t, Some(&info), &Effects::default())
        .await
        .unwrap();
    assert!(store.holds_package("a", "c", "sha-1").await.unwrap());
    assert!(!store.holds_package("b", "c", "sha-1").await.unwrap());

    // Retention drops closed placements older than its horizon, never open ones.
    assert_eq!(store.prune_placements(at(21), 10).await.unwrap(), 1);
    assert_eq!(store.prune_placements(at(1000), 10).await.unwrap(), 0);
    assert_eq!(store.current_placements().await.unwrap().len(), 2);
}

pub async fn audit_rows_read_back_whole_and_filter_by_time_actor_target_group_and_action(
    store: &dyn Store,
) {
    let row =
        |secs: i64, actor: &str, action: &str, target: &str, group: Option<&str>| AuditEntry {
            from: Some("10.0.0.7".into()),
            group: group.map(str::to_string),
            version_before: Some(1),
            version_after: Some(2),
            fields: vec!["command".into(), "secret_env.X".into()],
            ..AuditEntry::new(at(secs), actor, action, target, "d")
        };
    let rows = [
        row(1, "ann", "task.edit", "t1", Some("ops")),
        row(2, "ann/ci", "task.pause", "t2", Some("web")),
        row(3, "bob", "user.create", "carl", None),
        row(4, "annie", "task.edit", "t1", Some("ops")),
    ];
    for r in &rows {
        let fx = Effects {
            audit: Some(r.clone()),
            ..Effects::default()
        };
        store.commit_effects(&fx).await.unwrap();
    }
    let all = store.audit_log(&AuditFilter::latest(10)).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3], rows[0], "read back whole, newest first");
    let pick = |f: AuditFilter| async move {
        store
            .audit_log(&AuditFilter { limit: 10, ..f })
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.at)
            .collect::<Vec<_>>()
    };
    // A user's rows include its tokens', not another user whose name starts the same.
    let ann = pick(AuditFilter {
        actor: Some("ann".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(ann, [at(2), at(1)]);
    let t1_ops = pick(AuditFilter {
        target: Some("t1".into()),
        group: Some("ops".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(t1_ops, [at(4), at(1)]);
    let window = pick(AuditFilter {
        since: Some(at(2)),
        until: Some(at(4)),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(window, [at(3), at(2)]);
    let edits = pick(AuditFilter {
        action: Some("task.edit".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(edits.len(), 2);
    assert_eq!(
        store
            .audit_log(&AuditFilter::latest(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

fn incident(id: &str, subject: &str, opened: i64) -> cloudtask_shared::api::Incident {
    cloudtask_shared::api::Incident {
        id: id.into(),
        kind: cloudtask_shared::api::IncidentKind::Failed,
        subject: subject.into(),
        name: "n".into(),
        group: "g".into(),
        opened_at: at(opened),
        updated_at: at(opened),
        resolved_at: None,
        count: 1,
        announced: true,
        last_announced_at: Some(at(opened)),
        last_run: Some("r1".into()),
        summary: "failed".into(),
        acked_by: None,
        acked_at: None,
    }
}

fn message(id: &str, channel: cloudtask_shared::Channel, secs: i64) -> super::Message {
    super::Message {
        id: id.into(),
        channel,
        to: "ops@example.com".into(),
        subject: format!("subject of {id}"),
        body: "body".into(),
        incident: None,
        created_at: at(secs),
        attempts: 0,
        next_attempt_at: at(secs),
    }
}

pub async fn incidents_commit_with_the_alert_cursor_and_only_from_where_it_is(s: &dyn Store) {
    use cloudtask_shared::Channel;
    assert_eq!(s.alert_cursor().await.unwrap(), None);
    let n = super::Noticed {
        from: None,
        to: 7,
        incidents: vec![incident("i1", "t1", 0)],
        messages: vec![message("i1.opened.0", Channel::Email, 0)],
    };
    assert!(s.notice(&n).await.unwrap());
    assert_eq!(s.alert_cursor().await.unwrap(), Some(7));
    // A second noticer that read from the old position writes nothing.
    let stale = super::Noticed {
        from: None,
        to: 9,
        incidents: vec![incident("i2", "t2", 1)],
        messages: vec![message("i2.opened.0", Channel::Email, 1)],
    };
    assert!(!s.notice(&stale).await.unwrap());
    assert_eq!(s.alert_cursor().await.unwrap(), Some(7));
    assert!(s.incident("i2").await.unwrap().is_none());
    assert_eq!(
        s.due_messages(Channel::Email, at(5), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // An update (by id) keeps the ack, resolves, and frees the (subject, kind) for a new one.
    assert!(
        s.ack_incident("i1", "ann", at(2), &Effects::default())
            .await
            .unwrap()
    );
    let mut i1 = incident("i1", "t1", 0);
    i1.count = 4;
    i1.resolved_at = Some(at(3));
    let n = super::Noticed {
        from: Some(7),
        to: 8,
        incidents: vec![i1, incident("i3", "t1", 4)],
        messages: vec![],
    };
    assert!(s.notice(&n).await.unwrap());
    let got = s.incident("i1").await.unwrap().unwrap();
    assert_eq!((got.count, got.resolved_at), (4, Some(at(3))));
    assert_eq!(got.acked_by.as_deref(), Some("ann"));
    let open = s
        .incidents(&super::IncidentFilter {
            open: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["i3"]
    );
    let all = s
        .incidents(&super::IncidentFilter {
            subject: Some("t1".into()),
            groups: Some(vec!["g".into()]),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "newest first: {all:?}");
    assert_eq!(all[0].id, "i3");
    let none = s
        .incidents(&super::IncidentFilter {
            groups: Some(vec!["other".into()]),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    // Two open incidents of one (subject, kind) cannot be.
    let dup = super::Noticed {
        from: Some(8),
        to: 9,
        incidents: vec![incident("i4", "t1", 5)],
        messages: vec![],
    };
    assert!(s.notice(&dup).await.is_err());
    assert_eq!(
        s.alert_cursor().await.unwrap(),
        Some(8),
        "nothing of it was written"
    );
}

pub async fn messages_are_retried_when_due_delivered_or_dead_and_counted(s: &dyn Store) {
    use cloudtask_shared::Channel;
    let msgs = [
        message("a", Channel::Email, 0),
        message("b", Channel::Email, 1),
        message("c", Channel::Webhook, 2),
    ];
    s.queue_messages(&msgs, &Effects::default()).await.unwrap();
    // Queued twice under the same id: still one message.
    s.queue_messages(&msgs[..1], &Effects::default())
        .await
        .unwrap();
    let due: Vec<String> = s
        .due_messages(Channel::Email, at(10), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(due, ["a", "b"], "oldest first, one channel");
    s.message_failed("a", "connection refused", at(11), Some(at(20)))
        .await
        .unwrap();
    let due = s.due_messages(Channel::Email, at(15), 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["b"]);
    let a = s.due_messages(Channel::Email, at(20), 10).await.unwrap();
    assert_eq!(a[0].attempts, 1);
    let n = s.channel_counts(Channel::Email).await.unwrap();
    assert_eq!((n.queued, n.retrying, n.dead, n.delivered), (2, 1, 0, 0));
    assert_eq!(
        n.last_error,
        Some(("connection refused".to_string(), at(11)))
    );
    s.message_delivered("b", at(16)).await.unwrap();
    s.message_failed("a", "550 no such user", at(21), None)
        .await
        .unwrap();
    let n = s.channel_counts(Channel::Email).await.unwrap();
    assert_eq!((n.queued, n.retrying, n.dead, n.delivered), (0, 0, 1, 1));
    assert_eq!(n.last_delivered_at, Some(at(16)));
    assert_eq!(
        n.last_error.map(|e| e.0).as_deref(),
        Some("550 no such user")
    );
    assert!(
        s.due_messages(Channel::Email, at(99), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = s.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].dead && dead[0].attempts == 2 && dead[0].id == "a");
    let views = s.messages(&["b", "c"]).await.unwrap();
    assert_eq!(views.len(), 2);
    assert!(
        views
            .iter()
            .any(|v| v.id == "b" && v.delivered_at == Some(at(16)))
    );
    // A delivered message is not failed afterwards (a late error of a repeat).
    s.message_failed("b", "late", at(30), None).await.unwrap();
    assert_eq!(s.channel_counts(Channel::Email).await.unwrap().delivered, 1);
}

pub async fn a_digest_replaces_its_parts_in_one_step(s: &dyn Store) {
    use cloudtask_shared::Channel;
    let msgs: Vec<super::Message> = (0..4)
        .map(|i| message(&format!("m{i}"), Channel::Email, i))
        .collect();
    s.queue_messages(&msgs, &Effects::default()).await.unwrap();
    let parts: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
    s.digest_messages(&parts, &message("d", Channel::Email, 5))
        .await
        .unwrap();
    let due = s.due_messages(Channel::Email, at(10), 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["d"]);
    let n = s.channel_counts(Channel::Email).await.unwrap();
    assert_eq!(
        (n.queued, n.dead),
        (1, 0),
        "digested parts are neither queued nor dead"
    );
}

pub async fn only_open_incidents_are_acknowledged_and_old_alerts_go(s: &dyn Store) {
    use cloudtask_shared::Channel;
    let mut old = incident("old", "t1", 0);
    old.resolved_at = Some(at(10));
    let n = super::Noticed {
        from: None,
        to: 1,
        incidents: vec![old, incident("open", "t2", 0)],
        messages: vec![
            message("m-old", Channel::Email, 0),
            message("m-new", Channel::Email, 100),
        ],
    };
    assert!(s.notice(&n).await.unwrap());
    let fx = Effects {
        audit: Some(AuditEntry::new(at(20), "ann", "incident.ack", "t1", "")),
        ..Effects::default()
    };
    assert!(!s.ack_incident("old", "ann", at(20), &fx).await.unwrap());
    assert!(!s.ack_incident("nope", "ann", at(20), &fx).await.unwrap());
    assert!(
        s.audit_log(&AuditFilter::latest(10))
            .await
            .unwrap()
            .is_empty(),
        "a refused ack writes no audit row"
    );
    s.message_delivered("m-old", at(1)).await.unwrap();
    s.message_delivered("m-new", at(101)).await.unwrap();
    assert_eq!(s.prune_alerts(at(50), 100).await.unwrap(), 2);
    assert!(s.incident("old").await.unwrap().is_none());
    assert!(
        s.incident("open").await.unwrap().is_some(),
        "open incidents stay"
    );
    assert_eq!(s.messages(&["m-old", "m-new"]).await.unwrap().len(), 1);
}

pub async fn silences_read_back_until_they_end_and_go_with_retention(s: &dyn Store) {
    let silence = |id: &str, from: i64, to: i64| cloudtask_shared::api::Silence {
        id: id.into(),
        task: None,
        group: Some("g".into()),
        kind: Some(cloudtask_shared::api::IncidentKind::DidNotStart),
        starts_at: at(from),
        ends_at: at(to),
        reason: "maintenance".into(),
        created_by: "ann".into(),
        created_at: at(0),
    };
    let fx = Effects {
        audit: Some(AuditEntry::new(at(0), "ann", "silence.create", "g", "")),
        ..Effects::default()
    };
    s.add_silence(&silence("s1", 0, 100), &fx).await.unwrap();
    s.add_silence(&silence("s2", 50, 200), &Effects::default())
        .await
        .unwrap();
    assert_eq!(s.silence("s1").await.unwrap(), Some(silence("s1", 0, 100)));
    let on =
        |v: Vec<cloudtask_shared::api::Silence>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(
        on(s.silences(at(10)).await.unwrap()),
        ["s1", "s2"],
        "by start, a later one too"
    );
    assert_eq!(
        on(s.silences(at(100)).await.unwrap()),
        ["s2"],
        "ended at its end"
    );
    assert_eq!(
        s.audit_log(&AuditFilter::latest(10)).await.unwrap().len(),
        1
    );
    assert!(s.delete_silence("s2", &Effects::default()).await.unwrap());
    assert!(!s.delete_silence("s2", &Effects::default()).await.unwrap());
    s.prune_alerts(at(150), 100).await.unwrap();
    assert!(
        s.silence("s1").await.unwrap().is_none(),
        "pruned once ended before the horizon"
    );
}

//! Two centers with separate data dirs on one PostgreSQL store and one ZooKeeper: either
//! serves the whole API, and agents that know both move to the survivor when theirs dies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center, tar_gz};
use cloudtask_shared::RunStatus;
use cloudtask_shared::postgres_server::PostgresServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn leads(v: &Value) -> bool {
    v["leader"].as_bool().unwrap_or(false)
}

/// Lines `TASK INSTANT NODE` the tasks' command appended, per (task, instant).
fn executions(file: &std::path::Path) -> HashMap<(String, String), Vec<String>> {
    let mut seen: HashMap<(String, String), Vec<String>> = HashMap::new();
    for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
        let p: Vec<&str> = line.split_whitespace().collect();
        if let [task, instant, node] = p[..] {
            seen.entry((task.into(), instant.into()))
                .or_default()
                .push(node.into());
        }
    }
    seen
}

#[tokio::test]
async fn centers_on_one_postgres_serve_each_other_and_agents_follow_the_survivor() {
    let zk = ZooKeeper::start();
    let pg = PostgresServer::start();
    let store = pg.create_database("shared");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Center::start_cluster(dir_a.path(), &zk.connect("/ct"), &["--store", &store]).await;
    // B's data dir holds nothing of the store; only the tokens the operator was given (the
    // admin's, and the join token agents use).
    for file in ["admin.token", "join.token"] {
        std::fs::copy(dir_a.path().join(file), dir_b.path().join(file)).unwrap();
    }
    let b = Center::start_cluster(dir_b.path(), &zk.connect("/ct"), &["--store", &store]).await;
    let (_, va) = a.api(Method::GET, "/version", None).await;
    let (_, vb) = b.api(Method::GET, "/version", None).await;
    assert!(leads(&va) && !leads(&vb), "{va} {vb}");

    // Agents: two follow A (then B), one follows B (then A).
    let both = format!("{},{}", a.url, b.url);
    let back = format!("{},{}", b.url, a.url);
    let mut agents = Vec::new();
    for (name, centers) in [("n1", &both), ("n2", &both), ("n3", &back)] {
        agents.push(Agent::start(
            name,
            "default",
            &zk.connect("/ct"),
            centers,
            dir_a.path(),
        ));
    }

    // A package uploaded through B is served by A; a task created through A runs it.
    let (status, pkg) = b
        .upload(
            "/packages?file_name=tick.tar.gz",
            tar_gz(&[("tick.sh", 0o755, "echo \"$1 $2 $3\" >> \"$4\"\n")]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pkg}");
    let sha = pkg["sha256"].as_str().unwrap();
    assert!(
        a.bytes(&format!("/packages/{sha}")).await == b.bytes(&format!("/packages/{sha}")).await
    );
    let marks = dir_a.path().join("executions");
    let mut names = Vec::new();
    // 30 tasks: the ring leaves a node without any with a chance of 3 × (2/3)^30 (under
    // 1 in 50,000); with 9 it was 1 in 13.
    for i in 0..30 {
        let name = format!("tick-{i:02}");
        a.create_task(json!({
            "name": name,
            "command": format!(
                "./tick.sh \"$CLOUDTASK_TASK_ID\" \"$CLOUDTASK_SCHEDULED_AT\" \"$CLOUDTASK_NODE\" {}",
                marks.display()
            ),
            "package": pkg,
            "schedules": ["@every 1s"],
        }))
        .await;
        names.push(name);
    }
    // Seen through B as written through A, placed on all three nodes, firing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let placed: HashMap<String, String> = loop {
        let (_, tasks) = b.api(Method::GET, "/tasks", None).await;
        let placed: HashMap<String, String> = tasks
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| {
                Some((
                    t["name"].as_str()?.to_string(),
                    t["node"].as_str()?.to_string(),
                ))
            })
            .collect();
        let nodes: std::collections::HashSet<&String> = placed.values().collect();
        if placed.len() == names.len() && nodes.len() == 3 {
            break placed;
        }
        assert!(
            Instant::now() < deadline,
            "not placed on all nodes: {tasks}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for n in &names {
        b.wait_runs(n, Duration::from_secs(60), "a succeeded run", |r| {
            r.iter().any(|r| r.status == RunStatus::Succeeded)
        })
        .await;
    }

    // Run-now through B reaches n1, which follows A.
    let on_n1 = names.iter().find(|n| placed[*n] == "n1").unwrap().clone();
    let (status, run) = b
        .api(Method::POST, &format!("/tasks/{on_n1}/start"), None)
        .await;
    assert!(status.is_success(), "{run}");
    let id = run["runs"][0].as_str().unwrap().to_string();
    b.wait_runs(&on_n1, Duration::from_secs(30), "the run-now", |r| {
        r.iter()
            .any(|r| r.id == id && r.status == RunStatus::Succeeded)
    })
    .await;

    // kill -9 the leader: B takes over within the session timeout (2 s) + 2 s.
    let killed_at = Instant::now();
    let killed_ts = jiff::Timestamp::now();
    a.kill9();
    loop {
        let (_, v) = b.api(Method::GET, "/version", None).await;
        if leads(&v) {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(4),
            "B did not lead within 4 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // n1 and n2 report to B now: their tasks' new runs are stored, and a run-now reaches n1.
    for n in names.iter().filter(|n| placed[*n] != "n3") {
        b.wait_runs(
            n,
            Duration::from_secs(60),
            "a run reported after the kill",
            |r| {
                r.iter()
                    .any(|r| r.status == RunStatus::Succeeded && r.scheduled_at > killed_ts)
            },
        )
        .await;
    }
    let (status, run) = b
        .api(Method::POST, &format!("/tasks/{on_n1}/start"), None)
        .await;
    assert!(status.is_success(), "{run}");
    let id = run["runs"][0].as_str().unwrap().to_string();
    b.wait_runs(
        &on_n1,
        Duration::from_secs(30),
        "the run-now after the kill",
        |r| {
            r.iter()
                .any(|r| r.id == id && r.status == RunStatus::Succeeded)
        },
    )
    .await;

    // `cloudtaskctl` given both addresses, the dead one first, keeps working: reads and
    // writes go to B.
    let servers = format!("{},{}", a.url, b.url);
    let env = [("CLOUDTASK_SERVER", servers.as_str())];
    let out = b.ctl_env(&["-o", "json", "task", "ls"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(names.len()));
    let out = b.ctl_env(&["task", "pause", &names[8]], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, paused) = b
        .api(Method::GET, &format!("/tasks/{}", names[8]), None)
        .await;
    assert_eq!(paused["state"], "paused", "{paused}");

    // No instant ran twice, and every scheduled run that executed is stored (its report was
    // not lost with A). Runs still in flight at the stop are left out.
    let settle = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
    let ran = executions(&marks);
    let twice: Vec<_> = ran.iter().filter(|(_, nodes)| nodes.len() > 1).collect();
    assert!(twice.is_empty(), "executed twice: {twice:?}");
    let mut stored = std::collections::HashSet::new();
    for n in &names {
        for r in b.runs(n).await {
            stored.insert((r.task.clone(), r.scheduled_at));
        }
    }
    let lost: Vec<_> = ran
        .keys()
        .filter_map(|(task, instant)| {
            Some((task.clone(), instant.parse::<jiff::Timestamp>().ok()?))
        })
        .filter(|(_, at)| *at < settle)
        .filter(|k| !stored.contains(k))
        .collect();
    assert!(lost.is_empty(), "executed but never stored: {lost:?}");
    drop(agents);
}

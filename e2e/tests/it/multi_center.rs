//! Two centers with separate data dirs on one PostgreSQL store and one ZooKeeper: either
//! serves the whole API, and agents that know both move to the survivor when theirs dies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cloudtask_e2e::tmux::Tmux;
use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center, tar_gz};
use cloudtask_shared::RunStatus;
use cloudtask_shared::postgres_server::PostgresServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A streamed answer read line by line.
struct Lines {
    resp: reqwest::Response,
    buf: String,
}

impl Lines {
    fn new(resp: reqwest::Response) -> Lines {
        Lines {
            resp,
            buf: String::new(),
        }
    }

    /// Reads until a line satisfies `want`, within 30 s.
    async fn until(&mut self, what: &str, want: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            while let Some(nl) = self.buf.find('\n') {
                let line: String = self.buf.drain(..=nl).collect();
                if want(line.trim_end()) {
                    return;
                }
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(other) => panic!("{what}: the stream ended ({other:?}); left: {}", self.buf),
                Err(_) => panic!("{what}: not within 30 s; left: {}", self.buf),
            }
        }
    }

    /// Whether the stream ends (after whatever it still sends) within `within`.
    async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(_) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// No (task, instant) executed twice, and every one that executed is stored: its report
/// was not lost. Runs of the last 5 s, still in flight, are left out.
async fn once_and_stored(c: &Center, names: &[String], marks: &std::path::Path) {
    let settle = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
    let ran = executions(marks);
    let twice: Vec<_> = ran.iter().filter(|(_, nodes)| nodes.len() > 1).collect();
    assert!(twice.is_empty(), "executed twice: {twice:?}");
    let mut stored = std::collections::HashSet::new();
    for n in names {
        for r in c.runs(n).await {
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
    assert!(
        lost.is_empty(),
        "executed but never stored: {} {lost:?}",
        lost.len()
    );
}

/// Polls `/ready` until it answers `want` (within 30 s) and returns the answer's body.
async fn readiness(c: &Center, want: StatusCode, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = c.api_as(None, Method::GET, "/ready", None).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "not {what} within 30 s: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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
    // A's data dir has the webhook key an earlier version made there: it becomes the one
    // every center signs with.
    let earlier_key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    std::fs::write(dir_a.path().join("webhook.secret"), earlier_key).unwrap();
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
    for dir in [&dir_a, &dir_b] {
        let key = std::fs::read_to_string(dir.path().join("webhook.secret")).unwrap();
        assert_eq!(key.trim(), earlier_key, "the key in {:?}", dir.path());
    }

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

    // A user logged in through A is the same user through B: sessions live in the store.
    let (status, body) = a
        .api(
            Method::POST,
            "/users",
            Some(json!({"name": "ops", "password": "correct horse battery",
                        "grants": [{"role": "operator", "group": "default"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, login) = a
        .api_as(
            None,
            Method::POST,
            "/login",
            Some(json!({"user": "ops", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let session = login["token"].as_str().unwrap().to_string();
    let (status, seen) = b.api_as(Some(&session), Method::GET, "/tasks", None).await;
    assert_eq!(status, StatusCode::OK, "{seen}");

    // A follower of A's event stream sees a task created through B.
    let events = cloudtask_e2e::http()
        .get(format!("{}/api/v1/events", a.url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let mut events = Lines::new(events);
    let release = dir_a.path().join("release");
    b.create_task(json!({
        "name": "talker",
        "command": format!(
            "echo line-1; echo line-2; while [ ! -e {0} ]; do sleep 0.05; done; rm -f {0}; echo done",
            release.display()
        ),
        "target_nodes": ["n3"],
    }))
    .await;
    events
        .until("the creation through B, on A's stream", |l| {
            l.contains("task_changed") && l.contains("\"talker\"")
        })
        .await;
    b.wait_task("talker", Duration::from_secs(30), "placed on n3", |t| {
        t.node.as_deref() == Some("n3")
    })
    .await;

    // The live output of a run on n3, which reports to B, followed through A: relayed, so
    // its lines arrive while it still runs (it cannot end before `release` exists).
    let (status, run) = a.api(Method::POST, "/tasks/talker/start", None).await;
    assert!(status.is_success(), "{run}");
    let id = run["runs"][0].as_str().unwrap().to_string();
    b.wait_runs(
        "talker",
        Duration::from_secs(30),
        "the talker running",
        |r| {
            r.iter()
                .any(|r| r.id == id && r.status == RunStatus::Running)
        },
    )
    .await;
    let follow = cloudtask_e2e::http()
        .get(format!("{}/api/v1/runs/{id}/log?follow=true", a.url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(follow.status(), StatusCode::OK);
    let mut follow = Lines::new(follow);
    follow
        .until("line-2 relayed from B", |l| l.ends_with(" out line-2"))
        .await;
    let (_, now) = a.api(Method::GET, &format!("/runs/{id}"), None).await;
    assert_eq!(now["status"], "running", "{now}");
    std::fs::write(&release, "").unwrap();
    follow
        .until("the run's last line", |l| l.ends_with(" out done"))
        .await;
    assert!(
        follow.ends_within(Duration::from_secs(30)).await,
        "the follow did not end with the run"
    );

    // A stop through A reaches n3, which follows B.
    let (status, run) = b.api(Method::POST, "/tasks/talker/start", None).await;
    assert!(status.is_success(), "{run}");
    let id = run["runs"][0].as_str().unwrap().to_string();
    b.wait_runs(
        "talker",
        Duration::from_secs(30),
        "the second talker running",
        |r| {
            r.iter()
                .any(|r| r.id == id && r.status == RunStatus::Running)
        },
    )
    .await;
    let (status, body) = a.api(Method::POST, "/tasks/talker/stop", None).await;
    assert!(status.is_success(), "{body}");
    b.wait_runs(
        "talker",
        Duration::from_secs(30),
        "the talker stopped",
        |r| {
            r.iter()
                .any(|r| r.id == id && r.status == RunStatus::Killed)
        },
    )
    .await;

    // The console, given both centers, lists every task.
    let console = Tmux::start(&a, 160, 48, &[("CLOUDTASK_SERVER", both.as_str())]);
    console.type_text(&format!("{}", cloudtask_e2e::bin("cloudtaskctl").display()));
    console.keys(&["Enter"]);
    console.wait_for("dashboard");
    console.keys(&["Enter"]);
    console.wait_for(&format!("tasks {0}/{0}", names.len() + 1));

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
    // The console moved to B by itself: a task created through B shows up in it.
    b.create_task(json!({"name": "after-kill", "command": "true"}))
        .await;
    console.wait_for(&format!("tasks {0}/{0}", names.len() + 2));
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
    assert_eq!(listed.as_array().map(Vec::len), Some(names.len() + 2)); // the talker, after-kill
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
    // not lost with A).
    once_and_stored(&b, &names, &marks).await;
    drop(agents);
}

#[tokio::test]
async fn postgres_restarted_under_load_centers_and_agents_recover_and_nothing_is_lost() {
    let zk = ZooKeeper::start();
    let mut pg = PostgresServer::start();
    let store = pg.create_database("shared");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Center::start_cluster(dir_a.path(), &zk.connect("/ct"), &["--store", &store]).await;
    for file in ["admin.token", "join.token"] {
        std::fs::copy(dir_a.path().join(file), dir_b.path().join(file)).unwrap();
    }
    let b = Center::start_cluster(dir_b.path(), &zk.connect("/ct"), &["--store", &store]).await;
    let both = format!("{},{}", a.url, b.url);
    let back = format!("{},{}", b.url, a.url);
    let _agents: Vec<Agent> = [("n1", &both), ("n2", &back)]
        .into_iter()
        .map(|(name, centers)| {
            Agent::start(name, "default", &zk.connect("/ct"), centers, dir_a.path())
        })
        .collect();
    let marks = dir_a.path().join("executions");
    let mut names = Vec::new();
    for i in 0..20 {
        let name = format!("load-{i:02}");
        a.create_task(json!({
            "name": name,
            "command": format!(
                "echo \"$CLOUDTASK_TASK_ID $CLOUDTASK_SCHEDULED_AT $CLOUDTASK_NODE\" >> {}",
                marks.display()
            ),
            "schedules": ["@every 1s"],
        }))
        .await;
        names.push(name);
    }
    for n in &names {
        b.wait_runs(n, Duration::from_secs(60), "a succeeded run", |r| {
            r.iter().any(|r| r.status == RunStatus::Succeeded)
        })
        .await;
    }

    // kill -9 PostgreSQL: both centers say their store fails; the agents go on running
    // (their timers and claims are in ZooKeeper) and spool the reports.
    let down_at = jiff::Timestamp::now();
    pg.kill9();
    for c in [&a, &b] {
        let body = readiness(
            c,
            StatusCode::SERVICE_UNAVAILABLE,
            "unready with the store down",
        )
        .await;
        assert_ne!(body["store"], "ok", "{body}");
    }
    let (status, body) = a.api(Method::GET, "/tasks", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    cloudtask_e2e::wait_for(
        Duration::from_secs(30),
        "runs executed during the outage",
        || {
            let ran = executions(&marks);
            names.len() * 3
                <= ran
                    .keys()
                    .filter(|(_, at)| at.parse::<jiff::Timestamp>().is_ok_and(|t| t > down_at))
                    .count()
        },
    )
    .await;

    // Back: both centers serve again, and every task's runs are stored again.
    let up_at = jiff::Timestamp::now();
    pg.restart();
    for c in [&a, &b] {
        readiness(c, StatusCode::OK, "ready again after the restart").await;
    }
    for n in &names {
        a.wait_runs(n, Duration::from_secs(60), "a run after the restart", |r| {
            r.iter()
                .any(|r| r.status == RunStatus::Succeeded && r.scheduled_at > up_at)
        })
        .await;
    }
    let (status, body) = b
        .api(Method::POST, &format!("/tasks/{}/pause", names[0]), None)
        .await;
    assert!(status.is_success(), "{body}");
    // Everything that ran in the outage was delivered from the spools, nothing twice.
    once_and_stored(&b, &names, &marks).await;
    let during = b
        .runs(&names[1])
        .await
        .into_iter()
        .filter(|r| r.scheduled_at > down_at && r.scheduled_at < up_at)
        .count();
    assert!(during >= 2, "runs of the outage stored: {during}");
}

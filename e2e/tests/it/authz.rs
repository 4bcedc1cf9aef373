//! Who may do what, against a real center: every route of the README's policy table called
//! with every role, inside and outside the role's group; logins, sessions that end, the rate
//! limit, and secrets that never come back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cloudtask_e2e::{Center, tar_gz};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The README's policy table: `(method, path, cells)`.
fn policy_table() -> Vec<(Method, String, Vec<String>)> {
    cloudtask_shared::generated::policy_table(include_str!("../../../README.md"))
        .unwrap()
        .into_iter()
        .map(|(m, p, cells)| (m.parse().unwrap(), p, cells))
        .collect()
}

/// Polls, with a deadline, until `token` is refused as expired (it works until then).
async fn wait_expired(c: &Center, token: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, body) = c.api_as(Some(token), Method::GET, "/whoami", None).await;
        if s == StatusCode::UNAUTHORIZED {
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("expired"), "{body}");
            return;
        }
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the token never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const PASSWORD: &str = "a long enough password";

/// A world to call routes in: the same fixtures in the group the roles hold (`g1`) and in
/// one they do not (`g2`).
struct World {
    c: Center,
    /// Per column of the table: admin, editor, operator, viewer, node (`node-1`, which holds
    /// every fixture), join token, no token.
    tokens: Vec<Option<String>>,
    /// Per group: (task id, run id, package sha256).
    fixtures: Vec<(String, String, String, String)>,
    /// Per group: an open incident (of a failing task of that group).
    incidents: Vec<String>,
    /// Per group: a silence of that group.
    silences: Vec<String>,
    n: AtomicUsize,
    /// The newest audit row just before the last call's request.
    audit_mark: std::sync::Mutex<Option<Value>>,
}

async fn login(c: &Center, user: &str, password: &str) -> (StatusCode, Value) {
    c.api_as(
        None,
        Method::POST,
        "/login",
        Some(json!({"user": user, "password": password})),
    )
    .await
}

async fn session(c: &Center, user: &str) -> String {
    let (status, body) = login(c, user, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn make_user(c: &Center, name: &str, grants: Value) {
    let (status, body) = c
        .api(
            Method::POST,
            "/users",
            Some(json!({"name": name, "password": PASSWORD, "grants": grants})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

impl World {
    async fn new() -> World {
        let c = Center::start(&[]).await;
        for (role, name) in [("editor", "ed"), ("operator", "op"), ("viewer", "vi")] {
            make_user(&c, name, json!([{"role": role, "group": "g1"}])).await;
        }
        make_user(&c, "victim", json!([])).await;
        let mut tokens = vec![Some(c.token.clone())];
        for u in ["ed", "op", "vi"] {
            tokens.push(Some(session(&c, u).await));
        }
        tokens.push(Some(c.node_token()));
        let (status, join) = c
            .api(
                Method::POST,
                "/join-tokens",
                Some(json!({"name": "matrix", "expires_in": "1h"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{join}");
        tokens.push(Some(join["token"].as_str().unwrap().to_string()));
        tokens.push(None);
        let mut fixtures = Vec::new();
        let mut incidents = Vec::new();
        let mut silences = Vec::new();
        for g in ["g1", "g2"] {
            // A failing task's incident, for the alert routes.
            let f = c
                .create_task(json!({"name": "failing", "group": g, "command": "exit 1"}))
                .await;
            let fid = f["id"].as_str().unwrap().to_string();
            c.run_now(&fid).await;
            incidents.push(wait_incident(&c, &fid).await);
            silences.push(make_silence(&c, g).await);
            let pkg = tar_gz(&[("run.sh", 0o755, &format!("#!/bin/sh\necho {g}\n"))]);
            let (status, p) = c.upload("/packages?file_name=run.tar.gz", pkg).await;
            assert_eq!(status, StatusCode::CREATED, "{p}");
            let t = c
                .create_task(json!({"name": "t", "group": g, "command": "./run.sh", "package": p}))
                .await;
            let id = t["id"].as_str().unwrap().to_string();
            let (run, _) = c.run_now(&id).await;
            // The node reads what is placed on it: the run ran there, so the task is.
            c.wait_task(&id, Duration::from_secs(30), "placed", |t| {
                t.node.as_deref() == Some("node-1")
            })
            .await;
            fixtures.push((
                g.to_string(),
                id,
                run.id,
                p["sha256"].as_str().unwrap().to_string(),
            ));
        }
        World {
            c,
            tokens,
            fixtures,
            incidents,
            silences,
            n: AtomicUsize::new(0),
            audit_mark: std::sync::Mutex::new(None),
        }
    }

    fn fresh(&self, what: &str) -> String {
        format!("{what}-{}", self.n.fetch_add(1, Ordering::Relaxed))
    }

    /// Calls `method path` as `col` on the fixtures of group `gi` (0 inside, 1 outside);
    /// `self_user` names whose user a `{name}` route is about. Returns status and body.
    async fn call(
        &self,
        method: &Method,
        path: &str,
        col: usize,
        gi: usize,
        own_user: bool,
    ) -> (StatusCode, Value) {
        let (group, task, run, sha) = &self.fixtures[gi];
        let incident = &self.incidents[gi];
        let silence = &self.silences[gi];
        let c = &self.c;
        // A logout ends the session it comes with: users log out of a session of its own.
        let fresh_session = match (path, col) {
            ("/logout", 1..=3) => Some(session(c, ["ed", "op", "vi"][col - 1]).await),
            _ => None,
        };
        let token = fresh_session.as_deref().or(self.tokens[col].as_deref());
        let mut path = path
            .replace("{task}", task)
            .replace("{id}", run)
            .replace("{sha256}", sha)
            .replace("{incident}", incident)
            .replace("{silence}", silence);
        let mut body = None;
        // Routes that would destroy the fixtures act on fresh ones; bodies are such that an
        // allowed call passes the gate (it may still fail later, as invalid).
        match (method.as_str(), path.as_str()) {
            ("POST", "/login") => body = Some(json!({"user": "victim", "password": PASSWORD})),
            ("POST", "/clusters") | ("POST", "/groups") => {
                body = Some(json!({"name": self.fresh("n")}));
            }
            ("DELETE", p) if p.starts_with("/groups/") => {
                let g = self.fresh("gone");
                let (s, b) = c
                    .api(Method::POST, "/groups", Some(json!({"name": g})))
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                path = format!("/groups/{g}");
            }
            ("POST", "/tasks") => {
                body = Some(json!({"name": self.fresh("new"), "group": group, "command": "true"}));
            }
            ("PATCH", _) => body = Some(json!({"version": 999, "changes": {}})),
            ("DELETE", p) if p.starts_with("/tasks/") => {
                let t = c
                    .create_task(
                        json!({"name": self.fresh("del"), "group": group, "command": "true"}),
                    )
                    .await;
                path = format!("/tasks/{}", t["id"].as_str().unwrap());
            }
            ("POST", p) if p.ends_with("/clone") => body = Some(json!({"name": self.fresh("cl")})),
            ("POST", p) if p.ends_with("/package") || p == "/packages" => {
                path.push_str("?file_name=x.tar.gz");
                body = Some(json!("not an archive"));
            }
            ("POST", "/users") => {
                body = Some(json!({"name": self.fresh("u"), "password": PASSWORD}));
            }
            ("DELETE", "/users/{name}") => {
                let u = self.fresh("rm");
                make_user(c, &u, json!([])).await;
                path = format!("/users/{u}");
            }
            ("PUT", "/users/{name}/password") => {
                let who = ["admin", "ed", "op", "vi", "node", "join", "nobody"][col];
                let user = if own_user { who } else { "victim" };
                path = format!("/users/{user}/password");
                // Too short: an allowed call is refused as invalid, after the gate.
                body = Some(json!({"password": "short", "current": PASSWORD}));
            }
            ("PUT", "/users/{name}/email") => {
                let who = ["admin", "ed", "op", "vi", "node", "join", "nobody"][col];
                let user = if own_user { who } else { "victim" };
                path = format!("/users/{user}/email");
                body = Some(json!({"email": "someone@example.com"}));
            }
            ("POST", "/users/{name}/grants") => {
                path = "/users/victim/grants".into();
                body = Some(json!({"role": "viewer", "group": "g1"}));
            }
            ("DELETE", "/users/{name}/grants") => {
                path = "/users/victim/grants?role=viewer&group=nowhere".into();
            }
            ("POST", "/agent/join") => {
                body = Some(json!({"node": self.fresh("joined"), "cluster": "default"}));
            }
            ("POST", p) if p.starts_with("/agent/") => body = Some(json!([])),
            // A node follows its own commands.
            ("GET", "/events") if col == 4 => path.push_str("?node=node-1"),
            ("POST", "/join-tokens") => {
                body = Some(json!({"name": self.fresh("jt"), "expires_in": "1h"}));
            }
            ("DELETE", "/join-tokens/{name}") => {
                let name = self.fresh("jt-gone");
                let (s, b) = c
                    .api(
                        Method::POST,
                        "/join-tokens",
                        Some(json!({"name": name, "expires_in": "1h"})),
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                path = format!("/join-tokens/{name}");
            }
            ("DELETE", "/nodes/{name}/credential") => {
                // A node of its own, joined for the call: never node-1.
                let name = self.fresh("revoked-node");
                let (s, b) = c
                    .api_as(
                        self.tokens[5].as_deref(),
                        Method::POST,
                        "/agent/join",
                        Some(json!({"node": name, "cluster": "default"})),
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                path = format!("/nodes/{name}/credential");
            }
            ("POST", "/silences") => {
                body = Some(json!({"group": group, "ends_at": in_an_hour(), "reason": "matrix"}));
            }
            ("DELETE", p) if p.starts_with("/silences/") => {
                path = format!("/silences/{}", make_silence(c, group).await);
            }
            ("POST", "/notify/test") => {
                body = Some(json!({"channel": "email", "to": "ops@example.com"}));
            }
            ("POST", "/tokens") => {
                body = Some(json!({"name": self.fresh("tok"), "expires_in": "1d"}));
            }
            ("DELETE", "/tokens/{name}") => {
                // The caller's own token, made with the caller's own credential.
                let name = self.fresh("revoked");
                c.api_as(
                    token,
                    Method::POST,
                    "/tokens",
                    Some(json!({"name": name, "expires_in": "1d"})),
                )
                .await;
                path = format!("/tokens/{name}");
            }
            _ => {}
        }
        let mut req =
            cloudtask_e2e::http().request(method.clone(), format!("{}/api/v1{path}", c.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = match b {
                Value::String(s) if path.contains("file_name=") => req.body(s),
                b => req.json(&b),
            };
        }
        // What the audit log held before the call itself (its setup is not the call's).
        let before = newest_audit(c, 1).await.into_iter().next();
        *self.audit_mark.lock().unwrap() = before;
        let resp = req.send().await.unwrap();
        let status = resp.status();
        if path.starts_with("/events") || path.ends_with("/log") {
            // A stream: its status is the answer (the log is short; read it all).
            if status.is_success() && path.starts_with("/events") {
                return (status, Value::Null);
            }
        }
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// The newest `n` audit rows, as the admin reads them.
async fn newest_audit(c: &Center, n: u32) -> Vec<Value> {
    let (s, rows) = c.api(Method::GET, &format!("/audit?limit={n}"), None).await;
    assert_eq!(s, StatusCode::OK, "{rows}");
    rows.as_array().unwrap().clone()
}

/// The audit rows written after `mark` (the newest row before a call), newest first.
async fn rows_since(c: &Center, mark: Option<&Value>) -> Vec<Value> {
    let rows = newest_audit(c, 20).await;
    match mark {
        Some(m) => rows.into_iter().take_while(|r| r != m).collect(),
        None => rows,
    }
}

/// Whether a listing's answer shows the fixture of group `gi` (or its incident).
fn lists(
    path: &str,
    body: &Value,
    fixture: &(String, String, String, String),
    incident: &str,
) -> Option<bool> {
    let items = body.as_array()?;
    match path {
        "/tasks" => Some(items.iter().any(|t| t["id"] == fixture.1.as_str())),
        "/runs" => Some(items.iter().any(|r| r["id"] == fixture.2.as_str())),
        "/alerts" => Some(items.iter().any(|i| i["id"] == incident)),
        "/silences" => Some(items.iter().any(|i| i["group"] == fixture.0.as_str())),
        _ => None,
    }
}

fn in_an_hour() -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string()
}

/// A silence of group `g`, made by the admin; its id.
async fn make_silence(c: &Center, g: &str) -> String {
    let (s, body) = c
        .api(
            Method::POST,
            "/silences",
            Some(json!({"group": g, "ends_at": in_an_hour(), "reason": "fixture"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Waits for the open incident of a task whose run failed; its id.
async fn wait_incident(c: &Center, task: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s, body) = c
            .api(Method::GET, &format!("/alerts?task={task}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        if let Some(id) = body[0]["id"].as_str() {
            return id.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no incident for {task}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_policy_table_says() {
    let w = World::new().await;
    let columns = [
        "admin",
        "editor",
        "operator",
        "viewer",
        "node",
        "join token",
        "no token",
    ];
    let table = policy_table();
    assert!(table.len() > 30, "the table has every route");
    let mut wrong = Vec::new();
    for (method, path, cells) in &table {
        for (col, cell) in cells.iter().enumerate() {
            let who = columns[col];
            // Each group, and for a user's own route, its own user and another's.
            for (gi, own) in [(0, true), (1, false)] {
                let (status, body) = w.call(method, path, col, gi, own).await;
                let allowed = status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN;
                // Exactly one audit row for a change made or a request refused; none for a
                // read, a call refused as invalid or unauthenticated, or a node's report.
                let mark = w.audit_mark.lock().unwrap().clone();
                let written = rows_since(&w.c, mark.as_ref()).await;
                let reports = path.starts_with("/agent/") && path != "/agent/join";
                // (A pause of a paused task, a resume of a running one, changes nothing.)
                let no_op = status.is_success()
                    && (path.ends_with("/pause") || path.ends_with("/resume"))
                    && written.is_empty();
                let want = if no_op {
                    0
                } else if status == StatusCode::FORBIDDEN
                    || (status.is_success() && *method != Method::GET && !reports)
                {
                    1
                } else {
                    0
                };
                if written.len() != want {
                    wrong.push(format!(
                        "{method} {path} as {who}: {status} wrote {} audit rows, not {want}: {written:?}",
                        written.len()
                    ));
                }
                let listed = lists(path, &body, &w.fixtures[gi], &w.incidents[gi]);
                let ok = match cell.as_str() {
                    "public" => allowed,
                    "401" => status == StatusCode::UNAUTHORIZED,
                    "no" => status == StatusCode::FORBIDDEN,
                    "yes" => allowed && listed != Some(false),
                    "self" => allowed == own,
                    // The node holds every fixture, in either group.
                    "held" => allowed,
                    // Inside the group: allowed (and listed); outside: refused, or left out of
                    // the listing.
                    "group" => match listed {
                        Some(seen) => allowed && seen == (gi == 0),
                        // The stream has no group of its own to call it in: it is open to the
                        // role and filtered event by event
                        // (`a_viewer_follows_only_its_groups_events`).
                        None if path == "/events" => allowed,
                        None => allowed == (gi == 0),
                    },
                    other => panic!("{method} {path}: unknown cell {other:?}"),
                };
                if !ok {
                    wrong.push(format!(
                        "{method} {path} as {who} ({}): expected {cell}, got {status} {}",
                        if gi == 0 {
                            "inside g1 / own"
                        } else {
                            "outside, in g2 / other's"
                        },
                        body.to_string().chars().take(200).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answers differ from the policy table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // A refusal says what was missing, and is audited.
    let (status, body) = w
        .call(&Method::POST, "/tasks/{task}/start", 3, 0, true)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("forbidden: vi needs the operator role in group \"g1\""),
        "{message}"
    );
    let (_, audit) = w.c.api(Method::GET, "/audit?limit=10000", None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "request.refused"
                && a["actor"] == "vi"
                && a["detail"].as_str().unwrap().contains("operator role")),
        "refusals are audited"
    );
}

#[tokio::test]
async fn a_viewer_follows_only_its_groups_events() {
    let w = World::new().await;
    let resp = cloudtask_e2e::http()
        .get(format!("{}/api/v1/events", w.c.url))
        .bearer_auth(w.tokens[3].as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();
    // The outside group's change first, then the inside one's: once the second arrives, the
    // first was filtered out, not just late.
    for (_, task, _, _) in w.fixtures.iter().rev() {
        let (s, b) =
            w.c.api(Method::POST, &format!("/tasks/{task}/pause"), None)
                .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let inside = &w.fixtures[0].1;
    let outside = &w.fixtures[1].1;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(inside.as_str()) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the inside group's event within 20 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains(outside.as_str()), "{seen}");
}

#[tokio::test]
async fn sessions_end_at_logout_at_expiry_and_with_a_new_password() {
    let c = Center::start(&["--session-ttl", "2s"]).await;
    make_user(&c, "ann", json!([{"role": "viewer"}])).await;
    let t = session(&c, "ann").await;
    let (s, me) = c.api_as(Some(&t), Method::GET, "/whoami", None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["principal"], "user:ann");
    assert!(me["expires_at"].is_string(), "{me}");
    wait_expired(&c, &t).await;

    let c = Center::start(&[]).await;
    make_user(&c, "bob", json!([{"role": "viewer"}])).await;
    let a = session(&c, "bob").await;
    let b = session(&c, "bob").await;
    let (s, body) = c.api_as(Some(&a), Method::POST, "/logout", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, _) = c.api_as(Some(&a), Method::GET, "/tasks", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "logged out");
    let (s, _) = c.api_as(Some(&b), Method::GET, "/tasks", None).await;
    assert_eq!(s, StatusCode::OK, "the other session lives");
    // Changing one's own password needs the current one, and ends every session.
    let (s, body) = c
        .api_as(
            Some(&b),
            Method::PUT,
            "/users/bob/password",
            Some(json!({"password": "another long password", "current": "wrong one"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) = c
        .api_as(
            Some(&b),
            Method::PUT,
            "/users/bob/password",
            Some(json!({"password": "another long password", "current": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, _) = c.api_as(Some(&b), Method::GET, "/tasks", None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "sessions end with a new password"
    );
    let (s, body) = login(&c, "bob", "another long password").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let t = body["token"].as_str().unwrap().to_string();
    // A deleted user's sessions go with it; the last admin stays.
    let (s, _) = c.api(Method::DELETE, "/users/bob", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = c.api_as(Some(&t), Method::GET, "/tasks", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a deleted user's session");
    let (s, body) = c.api(Method::DELETE, "/users/admin", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last admin"),
        "{body}"
    );
}

#[tokio::test]
async fn failed_logins_are_limited_per_user_and_address_and_passwords_never_come_back() {
    let c = Center::start(&[]).await;
    make_user(&c, "ann", json!([{"role": "editor"}])).await;
    for _ in 0..5 {
        let (s, body) = login(&c, "ann", "not the password").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["message"], "wrong user name or password");
    }
    // The sixth try is refused without checking, even with the right password…
    let (s, body) = login(&c, "ann", PASSWORD).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    // …for that user from this address only: another user logs in from it.
    make_user(&c, "bob", json!([])).await;
    let (s, body) = login(&c, "bob", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // An unknown user is the same answer as a wrong password.
    let (s, body) = login(&c, "nobody", "not the password").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "wrong user name or password");
    // The counters are in the store: a restarted center still refuses.
    let dir = c.dir.clone();
    let mut c = c;
    c.terminate(Duration::from_secs(20)).await.expect("stops");
    let c2 = Center::start_in(&dir, &[]).await;
    let (s, _) = login(&c2, "ann", PASSWORD).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);

    // Neither the password nor its hash is in any answer, log line or audit row.
    let (_, users) = c2.api(Method::GET, "/users", None).await;
    let (_, audit) = c2.api(Method::GET, "/audit?limit=10000", None).await;
    let log = std::fs::read_to_string(dir.join("center.log")).unwrap_or_default();
    for text in [users.to_string(), audit.to_string(), log] {
        assert!(!text.contains(PASSWORD), "a password leaked: {text}");
        assert!(
            !text.contains("not the password"),
            "a password leaked: {text}"
        );
        assert!(!text.contains("$argon2id$"), "a hash leaked: {text}");
    }
    let first = std::fs::read_to_string(dir.join("admin.password")).unwrap();
    let (s, body) = login(&c2, "admin", first.trim()).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the first admin logs in with its file: {body}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["admin.password", "admin.token", "node.token"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the data dir");
    }
}

#[tokio::test]
async fn api_tokens_hold_no_more_than_their_scope_and_end_when_revoked_or_expired() {
    let c = Center::start(&["--max-token-ttl", "30d"]).await;
    make_user(&c, "ed", json!([{"role": "editor", "group": "g1"}])).await;
    let ed = session(&c, "ed").await;
    for g in ["g1", "g2"] {
        c.create_task(json!({"name": "t", "group": g, "command": "true"}))
            .await;
    }
    let make = |body: Value| {
        let ed = ed.clone();
        let c = &c;
        async move {
            c.api_as(Some(&ed), Method::POST, "/tokens", Some(body))
                .await
        }
    };
    // More than the creator has, a missing or too long expiry: refused.
    let (s, body) = make(
        json!({"name": "big", "expires_in": "1d", "grants": [{"role": "editor", "group": "g2"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no more than its creator"),
        "{body}"
    );
    let (s, body) = make(json!({"name": "long", "expires_in": "31d"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, _) = make(json!({"name": "never"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an expiry is mandatory");

    // A viewer-scoped token of an editor reads g1 and changes nothing.
    let (s, t) = make(
        json!({"name": "ci", "expires_in": "1d", "grants": [{"role": "viewer", "group": "g1"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let ci = t["token"].as_str().unwrap().to_string();
    let (s, me) = c.api_as(Some(&ci), Method::GET, "/whoami", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["principal"], "token:ed/ci");
    let (s, tasks) = c.api_as(Some(&ci), Method::GET, "/tasks", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(tasks.as_array().unwrap().len(), 1, "g1 only: {tasks}");
    let (s, body) = c
        .api_as(Some(&ci), Method::POST, "/tasks/t/pause?group=g1", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, _) = make(json!({"name": "ci", "expires_in": "1d"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "names are unique per user");
    // A token cannot make tokens.
    let (s, _) = c
        .api_as(
            Some(&ci),
            Method::POST,
            "/tokens",
            Some(json!({"name": "x", "expires_in": "1d"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Its user losing the role takes it from the token too.
    let (s, _) = c
        .api(
            Method::DELETE,
            "/users/ed/grants?role=editor&group=g1",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = c.api_as(Some(&ci), Method::GET, "/tasks", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no role left: {body}");
    c.api(
        Method::POST,
        "/users/ed/grants",
        Some(json!({"role": "editor", "group": "g1"})),
    )
    .await;

    // Listed with its last use (written in batches: polled), never with the token.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s, list) = c.api_as(Some(&ed), Method::GET, "/tokens", None).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert!(
            !list.to_string().contains(&ci),
            "the token itself is never listed"
        );
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "ci")
            .cloned()
            .unwrap();
        if row["last_used_at"].is_string() {
            assert_eq!(row["last_used_from"], "127.0.0.1", "{row}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "last use never recorded: {row}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Revoked: refused at once.
    let (s, _) = c
        .api_as(Some(&ed), Method::DELETE, "/tokens/ci", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = c.api_as(Some(&ci), Method::GET, "/tasks", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Expired: refused once its time is over (polled with a deadline).
    let (s, t) = make(json!({"name": "brief", "expires_in": "1s"})).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let brief = t["token"].as_str().unwrap().to_string();
    wait_expired(&c, &brief).await;
}

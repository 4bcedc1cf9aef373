//! The complete `cloudtaskctl` against a real standalone center: contexts, every subcommand,
//! exit codes, JSON, declarative apply/diff/export, `$EDITOR` editing, and the README's CI
//! script.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cloudtask_e2e::{Center, bin, tar_gz};
use serde_json::Value;

use cloudtask_e2e::output_text as text;

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

/// `cloudtaskctl` with only a config dir: no server or token in the environment.
fn bare(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(bin("cloudtaskctl"));
    cmd.args(args)
        .env_remove("CLOUDTASK_SERVER")
        .env_remove("CLOUDTASK_TOKEN")
        .env_remove("CLOUDTASK_CONTEXT")
        .env("XDG_CONFIG_HOME", config)
        .env("NO_COLOR", "1");
    match stdin {
        Some(input) => {
            use std::io::Write;
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
        None => cmd.stdin(std::process::Stdio::null()).output().unwrap(),
    }
}

#[tokio::test]
async fn contexts_login_logout_and_overrides() {
    let c = Center::start(&[]).await;
    let cfg = c.dir.join("cfg");
    // Nothing configured: the default server is not this one, so no token works.
    let wrong = bare(
        &cfg,
        &["login", "--server", &c.url, "--token-stdin"],
        Some("ct_wrong\n"),
    );
    assert_eq!(code(&wrong), 5, "{}", text(&wrong));
    assert!(
        text(&wrong).contains("rejected the token"),
        "{}",
        text(&wrong)
    );
    assert!(
        !cfg.join("cloudtask/config.toml").exists(),
        "a rejected login saved nothing"
    );

    let login = bare(
        &cfg,
        &[
            "login",
            "--server",
            &c.url,
            "--name",
            "local",
            "--token-stdin",
        ],
        Some(&c.token),
    );
    assert!(login.status.success(), "{}", text(&login));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cfg.join("cloudtask/config.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the config holds tokens");
    }
    let contexts = ok_json(&bare(&cfg, &["context", "ls", "-o", "json"], None));
    assert_eq!(contexts[0]["name"], "local");
    assert_eq!(contexts[0]["current"], true);
    assert_eq!(contexts[0]["logged_in"], true);
    // The saved context is used with no flags or env.
    let version = ok_json(&bare(&cfg, &["version", "-o", "json"], None));
    assert_eq!(version["client"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version["server"]["mode"], "standalone");
    assert_eq!(version["server"]["leader"], true);
    // The environment overrides the context.
    let mut cmd = Command::new(bin("cloudtaskctl"));
    let overridden = cmd
        .args(["task", "ls"])
        .env("XDG_CONFIG_HOME", &cfg)
        .env("CLOUDTASK_TOKEN", "ct_nope")
        .env_remove("CLOUDTASK_SERVER")
        .output()
        .unwrap();
    assert_eq!(code(&overridden), 5, "{}", text(&overridden));
    let unknown = bare(&cfg, &["context", "use", "prod"], None);
    assert_eq!(code(&unknown), 3, "{}", text(&unknown));
    let mut cmd = Command::new(bin("cloudtaskctl"));
    let bad_env = cmd
        .args(["task", "ls"])
        .env("XDG_CONFIG_HOME", &cfg)
        .env("CLOUDTASK_CONTEXT", "prod")
        .env_remove("CLOUDTASK_SERVER")
        .env_remove("CLOUDTASK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code(&bad_env), 3, "{}", text(&bad_env));
    assert!(text(&bad_env).contains("no context named \"prod\""));

    assert!(bare(&cfg, &["logout"], None).status.success());
    let after = bare(&cfg, &["task", "ls"], None);
    assert_eq!(code(&after), 5, "{}", text(&after));
    assert!(text(&after).contains("no token given"), "{}", text(&after));
    // Without a terminal and without --token-stdin, login says how to give the token.
    let no_tty = bare(&cfg, &["login", "--server", &c.url], None);
    assert_eq!(code(&no_tty), 1, "{}", text(&no_tty));
    assert!(text(&no_tty).contains("--token-stdin"));
    assert!(
        bare(&cfg, &["context", "use", "local"], None)
            .status
            .success()
    );
    // A bad flag is a usage error.
    assert_eq!(code(&bare(&cfg, &["task", "ls", "--bogus"], None)), 2);
}

#[tokio::test]
async fn groups_clusters_nodes_runs_and_next() {
    let c = Center::start(&[]).await;
    assert!(
        c.ctl(&["group", "create", "ops", "--description", "operations"])
            .status
            .success()
    );
    let groups = ok_json(&c.ctl(&["group", "ls", "-o", "json"]));
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "ops" && g["description"] == "operations"),
        "{groups}"
    );
    assert_eq!(
        code(&c.ctl(&["group", "create", "ops"])),
        4,
        "duplicate group"
    );
    assert_eq!(code(&c.ctl(&["group", "rm", "nosuch"])), 3);
    assert!(c.ctl(&["group", "rm", "ops"]).status.success());

    let clusters = ok_json(&c.ctl(&["cluster", "ls", "-o", "json"]));
    assert_eq!(clusters[0]["name"], "default");
    assert_eq!(clusters[0]["nodes"], 1);
    let nodes = ok_json(&c.ctl(&["node", "ls", "-o", "json"]));
    assert_eq!(nodes[0]["name"], "node-1");
    let node = ok_json(&c.ctl(&["node", "show", "node-1", "-o", "json"]));
    assert_eq!(node["cluster"], "default");
    let wide = c.ctl(&["node", "ls", "-o", "wide"]);
    assert!(String::from_utf8_lossy(&wide.stdout).contains("CAPACITY"));
    assert_eq!(code(&c.ctl(&["node", "show", "ghost"])), 3);

    // Every field of the model from flags.
    let created = ok_json(&c.ctl(&[
        "-o",
        "json",
        "task",
        "create",
        "berlin",
        "--group",
        "ops",
        "--cmd",
        "echo \"$GREETING from $CLOUDTASK_NODE\"; exit 3",
        "--schedule",
        "0 30 2 * * *",
        "--schedule",
        "@every 1h",
        "--tz",
        "Europe/Berlin",
        "--env",
        "GREETING=hello",
        "--timeout",
        "1m",
        "--kill-grace",
        "2s",
        "--retries",
        "2",
        "--retry-backoff",
        "3s",
        "--concurrency",
        "allow",
        "--misfire",
        "skip",
        "--misfire-grace",
        "10s",
        "--nodes",
        "node-1",
        "--cluster",
        "default",
        "--description",
        "nightly",
        "--start-at",
        "2026-01-01T00:00:00Z",
        "--end-at",
        "2030-01-01T00:00:00Z",
        "--paused",
    ]));
    for (k, v) in [
        ("timezone", Value::from("Europe/Berlin")),
        ("timeout_ms", Value::from(60_000)),
        ("kill_grace_ms", Value::from(2_000)),
        ("retries", Value::from(2)),
        ("retry_backoff_ms", Value::from(3_000)),
        ("concurrency", Value::from("allow")),
        ("misfire", Value::from("skip")),
        ("misfire_grace_ms", Value::from(10_000)),
        ("paused", Value::from(true)),
        ("description", Value::from("nightly")),
        ("start_at", Value::from("2026-01-01T00:00:00Z")),
    ] {
        assert_eq!(created[k], v, "{k} in {created}");
    }
    assert_eq!(created["env"]["GREETING"], "hello");
    assert_eq!(created["target_nodes"][0], "node-1");
    let bad = c.ctl(&[
        "task",
        "create",
        "x",
        "--cmd",
        "true",
        "--schedule",
        "61 * * * * *",
    ]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    assert!(text(&bad).contains("schedules"), "{}", text(&bad));

    // Next fire times across Berlin's spring-forward night, in the zone and in UTC.
    let next = ok_json(&c.ctl(&[
        "task",
        "next",
        "berlin",
        "--group",
        "ops",
        "-n",
        "3",
        "--from",
        "2026-03-28T12:00:00Z",
        "-o",
        "json",
    ]));
    let fires: Vec<jiff::Timestamp> = next["fires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(fires.len(), 3);
    assert!(fires.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(fires[0].to_string(), "2026-03-28T13:00:00Z");
    assert!(next["local"][0].as_str().unwrap().ends_with("+01:00"));
    let table = c.ctl(&["task", "next", "berlin", "--group", "ops", "-n", "2"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("LOCAL (Europe/Berlin)"));
    let bad_from = c.ctl(&[
        "task",
        "next",
        "berlin",
        "--group",
        "ops",
        "--from",
        "yesterday",
    ]);
    assert_eq!(code(&bad_from), 2);
    assert!(text(&bad_from).contains("RFC 3339"));

    // A failing run: start it, follow it, inspect it by id.
    assert!(
        c.ctl(&["task", "resume", "berlin", "--group", "ops"])
            .status
            .success()
    );
    let started = ok_json(&c.ctl(&["task", "start", "berlin", "--group", "ops", "-o", "json"]));
    let run_id = started["runs"][0].as_str().unwrap().to_string();
    let followed = c.ctl(&["run", "logs", &run_id, "-f"]);
    assert_eq!(
        code(&followed),
        1,
        "a failed run ends non-zero: {}",
        text(&followed)
    );
    assert!(
        String::from_utf8_lossy(&followed.stdout).contains("hello from node-1"),
        "{}",
        text(&followed)
    );
    assert!(text(&followed).contains("failed"));
    let run = ok_json(&c.ctl(&["run", "show", &run_id, "-o", "json"]));
    assert_eq!(run["exit_code"], 3);
    assert_eq!(run["status"], "failed");
    let failed = ok_json(&c.ctl(&[
        "task", "runs", "berlin", "--group", "ops", "--status", "failed", "--since", "2h", "-o",
        "json",
    ]));
    assert!(
        failed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == run_id.as_str())
    );
    assert_eq!(code(&c.ctl(&["run", "show", "nope-1-1"])), 3);
    let wide_runs = c.ctl(&["task", "runs", "berlin", "--group", "ops", "-o", "wide"]);
    assert!(String::from_utf8_lossy(&wide_runs.stdout).contains("MESSAGE"));
    let stopped = ok_json(&c.ctl(&["task", "stop", "berlin", "--group", "ops", "-o", "json"]));
    assert!(stopped["runs"].is_array());

    // A new package for an existing task.
    let pkg = c.dir.join("berlin.tgz");
    std::fs::write(&pkg, tar_gz(&[("run.sh", 0o755, "#!/bin/sh\necho v2\n")])).unwrap();
    let uploaded = ok_json(&c.ctl(&[
        "task",
        "upload",
        "berlin",
        "--group",
        "ops",
        pkg.to_str().unwrap(),
        "-o",
        "json",
    ]));
    assert_eq!(uploaded["package"]["file_name"], "berlin.tgz");
    let missing = c.ctl(&[
        "task",
        "upload",
        "berlin",
        "--group",
        "ops",
        "/nonexistent.tgz",
    ]);
    assert_eq!(code(&missing), 1);
    assert!(
        text(&missing).contains("/nonexistent.tgz"),
        "{}",
        text(&missing)
    );
}

#[tokio::test]
async fn apply_diff_prune_and_export() {
    let c = Center::start(&[]).await;
    let dir = c.dir.join("deploy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("report.tar.gz"),
        tar_gz(&[("report.sh", 0o755, "#!/bin/sh\necho report v1\n")]),
    )
    .unwrap();
    let file = dir.join("tasks.toml");
    let write = |report_cmd: &str, with_cleanup: bool| {
        let mut t = format!(
            "[[task]]\nname = \"report\"\ngroup = \"nightly\"\ncommand = \"{report_cmd}\"\n\
             schedules = [\"0 0 3 * * *\"]\ntimezone = \"Europe/Berlin\"\npackage = \"report.tar.gz\"\n"
        );
        if with_cleanup {
            t.push_str(
                "\n[[task]]\nname = \"cleanup\"\ngroup = \"nightly\"\ncommand = \"true\"\nschedules = [\"@daily\"]\n",
            );
        }
        std::fs::write(&file, t).unwrap();
    };
    write("./report.sh", true);
    let f = file.to_str().unwrap();

    let diff = ok_json(&c.ctl(&["diff", "-f", f, "-o", "json"]));
    assert_eq!(diff["create"].as_array().unwrap().len(), 2);
    assert_eq!(diff["applied"], false);
    assert_eq!(
        ok_json(&c.ctl(&["task", "ls", "-o", "json"]))
            .as_array()
            .unwrap()
            .len(),
        0,
        "diff changes nothing"
    );
    let first = ok_json(&c.ctl(&["apply", "-f", f, "-o", "json"]));
    assert_eq!(first["create"].as_array().unwrap().len(), 2);
    let shown = ok_json(&c.ctl(&["task", "show", "report", "--group", "nightly", "-o", "json"]));
    assert_eq!(shown["package"]["file_name"], "report.tar.gz");
    let version = shown["version"].as_u64().unwrap();

    // The same file again: nothing to do, and it says so.
    let again = c.ctl(&["apply", "-f", f]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no changes"),
        "{}",
        text(&again)
    );
    let same = ok_json(&c.ctl(&["task", "show", "report", "--group", "nightly", "-o", "json"]));
    assert_eq!(
        same["version"].as_u64().unwrap(),
        version,
        "second apply edited the task"
    );
    assert_eq!(code(&c.ctl(&["diff", "-f", f, "--exit-code"])), 0);

    // A changed command and package: diff reports it (exit 1 with --exit-code), apply does it.
    write("./report.sh --full", true);
    std::fs::write(
        dir.join("report.tar.gz"),
        tar_gz(&[("report.sh", 0o755, "#!/bin/sh\necho report v2\n")]),
    )
    .unwrap();
    let drift = c.ctl(&["diff", "-f", f, "--exit-code"]);
    assert_eq!(code(&drift), 1, "{}", text(&drift));
    assert!(
        String::from_utf8_lossy(&drift.stdout)
            .contains("~ update  nightly/report (command, package)"),
        "{}",
        text(&drift)
    );
    let updated = ok_json(&c.ctl(&["apply", "-f", f, "-o", "json"]));
    assert_eq!(updated["update"][0]["task"], "nightly/report");
    let history = c
        .api(
            reqwest::Method::GET,
            "/tasks/report/packages?group=nightly",
            None,
        )
        .await
        .1;
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");

    // --prune removes what the file no longer declares in its groups.
    write("./report.sh --full", false);
    let pruned = ok_json(&c.ctl(&["apply", "-f", f, "--prune", "-o", "json"]));
    assert_eq!(pruned["delete"][0], "nightly/cleanup");
    assert_eq!(
        code(&c.ctl(&["task", "show", "cleanup", "--group", "nightly"])),
        3
    );

    // Export gives a file apply takes back with no change.
    let exported = c.ctl(&["export", "--group", "nightly"]);
    assert!(exported.status.success(), "{}", text(&exported));
    let back = dir.join("exported.toml");
    std::fs::write(&back, &exported.stdout).unwrap();
    let replay = ok_json(&c.ctl(&["apply", "-f", back.to_str().unwrap(), "-o", "json"]));
    assert_eq!(replay["unchanged"][0], "nightly/report", "{replay}");
    assert!(replay["update"].as_array().unwrap().is_empty(), "{replay}");

    // A bad file names the task and the field, and changes nothing.
    std::fs::write(
        dir.join("bad.toml"),
        "[[task]]\nname = \"x\"\ncommand = \"true\"\nschedules = [\"@daily\"]\ncomand = \"typo\"\n",
    )
    .unwrap();
    let bad = c.ctl(&["apply", "-f", dir.join("bad.toml").to_str().unwrap()]);
    assert_eq!(code(&bad), 2);
    assert!(
        text(&bad).contains("task #1 (x)") && text(&bad).contains("comand"),
        "{}",
        text(&bad)
    );
    let missing_pkg = dir.join("nopkg.toml");
    std::fs::write(
        &missing_pkg,
        "[[task]]\nname = \"y\"\ncommand = \"true\"\nschedules = [\"@daily\"]\npackage = \"gone.tgz\"\n",
    )
    .unwrap();
    let gone = c.ctl(&["apply", "-f", missing_pkg.to_str().unwrap()]);
    assert_eq!(code(&gone), 1);
    assert!(text(&gone).contains("gone.tgz"), "{}", text(&gone));
    assert_eq!(code(&c.ctl(&["task", "show", "y"])), 3);
}

/// Runs `cloudtaskctl ARGS` under a pseudo-terminal (`script`), as a person at a terminal.
fn on_terminal(c: &Center, args: &str, editor: &str) -> Output {
    Command::new("script")
        .args([
            "-qec",
            &format!("{} {args}", bin("cloudtaskctl").display()),
            "/dev/null",
        ])
        .env("CLOUDTASK_SERVER", &c.url)
        .env("CLOUDTASK_TOKEN", &c.token)
        .env("XDG_CONFIG_HOME", c.dir.join("ctl-config"))
        .env("NO_COLOR", "1")
        .env("EDITOR", editor)
        .env_remove("VISUAL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn edit_in_editor_with_version_check() {
    let c = Center::start(&[]).await;
    assert!(
        c.ctl(&[
            "task",
            "create",
            "nightly",
            "--cmd",
            "echo old",
            "--schedule",
            "@daily"
        ])
        .status
        .success()
    );
    // A scripted editor changes the command and the retries.
    let script = c.dir.join("editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i -e 's/echo old/echo new/' -e 's/^retries = 0/retries = 4/' \"$1\"\n",
    )
    .unwrap();
    make_executable(&script);
    let out = on_terminal(&c, "task edit nightly", script.to_str().unwrap());
    assert!(out.status.success(), "{}", text(&out));
    let v = ok_json(&c.ctl(&["task", "show", "nightly", "-o", "json"]));
    assert_eq!(v["command"], "echo new");
    assert_eq!(v["retries"], 4);
    assert_eq!(v["version"], 2);

    // Someone else edits while the editor is open: exit 4, the user's text is kept.
    let racing = c.dir.join("racing.sh");
    std::fs::write(
        &racing,
        format!(
            "#!/bin/sh\nCLOUDTASK_SERVER={} CLOUDTASK_TOKEN={} {} task edit nightly --retries 1 >/dev/null\nsed -i 's/echo new/echo mine/' \"$1\"\n",
            c.url,
            c.token,
            bin("cloudtaskctl").display()
        ),
    )
    .unwrap();
    make_executable(&racing);
    let out = on_terminal(&c, "task edit nightly", racing.to_str().unwrap());
    assert_eq!(code(&out), 4, "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("changed on the center"), "{msg}");
    let kept = msg
        .split("kept in ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .map(str::trim)
        .unwrap();
    assert!(std::fs::read_to_string(kept).unwrap().contains("echo mine"));
    let v = ok_json(&c.ctl(&["task", "show", "nightly", "-o", "json"]));
    assert_eq!(
        (v["command"].as_str(), v["retries"].as_u64()),
        (Some("echo new"), Some(1))
    );

    // Without a terminal and without flags, edit explains itself.
    let no_tty = c.ctl(&["task", "edit", "nightly"]);
    assert_eq!(code(&no_tty), 2);
    assert!(text(&no_tty).contains("$EDITOR"));
}

fn make_executable(p: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// The README's "Deploy tasks from CI" script, run as written against a fresh center.
#[tokio::test]
async fn readme_ci_script_works_as_written() {
    let c = Center::start(&[]).await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## Deploy tasks from CI")
        .nth(1)
        .expect("README has a 'Deploy tasks from CI' section");
    let script = section
        .split("```sh\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the section has a sh block");
    let work = c.dir.join("ci");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("backup.sh"), "#!/bin/sh\necho backing up\n").unwrap();
    let path = format!(
        "{}:{}",
        bin("cloudtaskctl").parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        Command::new("bash")
            .args(["-c", script])
            .current_dir(&work)
            .env("PATH", &path)
            .env("CLOUDTASK_SERVER", &c.url)
            .env("CLOUDTASK_TOKEN", &c.token)
            .env("XDG_CONFIG_HOME", work.join("config"))
            .env_remove("CLOUDTASK_CONTEXT")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("migrating to dev"),
        "the started run's output is followed: {}",
        text(&first)
    );
    let second = run();
    assert!(second.status.success(), "{}", text(&second));
    let migrations = ok_json(&c.ctl(&["task", "runs", "migrate", "--group", "ops", "-o", "json"]));
    assert_eq!(
        migrations.as_array().unwrap().len(),
        1,
        "the idempotency key kept the re-run from migrating twice: {migrations}"
    );
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("no changes"),
        "a re-run deploys nothing: {}",
        text(&second)
    );
    let tasks = ok_json(&c.ctl(&["task", "ls", "-o", "json"]));
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "backup")
    );
}

#[test]
fn man_pages_render_and_completions_load() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    for page in [
        "cloudtaskctl.1",
        "cloudtaskctl-apply.1",
        "cloudtask-center.8",
        "cloudtask-agent.8",
    ] {
        let out = Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(root.join("man").join(page))
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{page}: {}",
            text(&out)
        );
    }
    let out = Command::new("bash")
        .args([
            "-c",
            "source completions/cloudtaskctl.bash && complete -p cloudtaskctl",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn tables_fit_the_terminal_and_colour_only_there() {
    let c = Center::start(&[]).await;
    let long = "x".repeat(150);
    let mut args = vec!["task", "create", "wide-one", "--cmd", &long, "--paused"];
    let schedules: Vec<String> = (0..8).map(|h| format!("0 0 {h} * * *")).collect();
    for s in &schedules {
        args.extend(["--schedule", s]);
    }
    assert!(c.ctl(&args).status.success());
    let on_tty = |extra_env: &[(&str, &str)]| {
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &format!("stty cols 70; {} task ls", bin("cloudtaskctl").display()),
            "/dev/null",
        ])
        .env("CLOUDTASK_SERVER", &c.url)
        .env("CLOUDTASK_TOKEN", &c.token)
        .env("XDG_CONFIG_HOME", c.dir.join("ctl-config"))
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    let coloured = on_tty(&[]);
    assert!(coloured.contains("\x1b[33mpaused"), "{coloured:?}");
    let strip = |s: &str| {
        let mut out = String::new();
        let mut esc = false;
        for ch in s.chars() {
            match (esc, ch) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    };
    for line in strip(&coloured).lines() {
        let width = unicode_width(line.trim_end_matches('\r'));
        assert!(
            width <= 70,
            "line of {width} columns on a 70-column terminal: {line:?}"
        );
    }
    assert!(
        coloured.contains('…'),
        "the long schedule list is cut: {coloured}"
    );
    let plain = on_tty(&[("NO_COLOR", "1")]);
    assert!(!plain.contains("\x1b["), "NO_COLOR: {plain:?}");
    // Not a terminal: no colour, nothing cut.
    let piped = c.ctl_env(&["task", "ls", "-o", "wide"], &[("NO_COLOR", "")]);
    let out = String::from_utf8_lossy(&piped.stdout);
    assert!(!out.contains("\x1b[") && out.contains(&long), "{out}");
}

fn unicode_width(s: &str) -> usize {
    s.chars().count()
}

#[tokio::test]
async fn schedules_that_can_never_fire_are_refused_and_ended_ones_listed() {
    let c = Center::start(&[]).await;
    // An expression with no instant at all: refused at create, naming the schedule.
    let never = c.ctl(&[
        "task",
        "create",
        "feb30",
        "--cmd",
        "true",
        "--schedule",
        "0 0 30 2 *",
    ]);
    assert_ne!(code(&never), 0, "{}", text(&never));
    assert!(
        text(&never).contains("schedules[0]") && text(&never).contains("can never fire"),
        "{}",
        text(&never)
    );
    // A window that holds no instant: 29 February never falls in 2027.
    let window = c.ctl(&[
        "task",
        "create",
        "leap",
        "--cmd",
        "true",
        "--schedule",
        "0 0 29 2 *",
        "--start-at",
        "2027-03-01T00:00:00Z",
        "--end-at",
        "2027-12-31T00:00:00Z",
    ]);
    assert_ne!(code(&window), 0, "{}", text(&window));
    assert!(
        text(&window).contains("no fire time falls in the window"),
        "{}",
        text(&window)
    );
    assert_eq!(
        ok_json(&c.ctl(&["task", "ls", "-o", "json"]))
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing half-created"
    );

    // A window that has simply ended is accepted and listed as ended, with no next fire.
    let ended = c.ctl(&[
        "task",
        "create",
        "last-year",
        "--cmd",
        "true",
        "--schedule",
        "@daily",
        "--start-at",
        "2025-01-01T00:00:00Z",
        "--end-at",
        "2025-02-01T00:00:00Z",
    ]);
    assert!(ended.status.success(), "{}", text(&ended));
    let shown = ok_json(&c.ctl(&["task", "ls", "-o", "json"]));
    assert_eq!(shown[0]["state"], "ended", "{shown}");
    assert_eq!(
        shown[0]["next_fires"].as_array().unwrap().len(),
        0,
        "{shown}"
    );
    let next = ok_json(&c.ctl(&["task", "next", "last-year", "-o", "json"]));
    assert_eq!(next["fires"].as_array().unwrap().len(), 0, "{next}");

    // Editing a schedule into one that can never fire is refused and changes nothing.
    assert!(
        c.ctl(&[
            "task",
            "create",
            "daily",
            "--cmd",
            "true",
            "--schedule",
            "@daily"
        ])
        .status
        .success()
    );
    let edit = c.ctl(&["task", "edit", "daily", "--schedule", "0 0 31 4 *"]);
    assert_ne!(code(&edit), 0, "{}", text(&edit));
    assert!(text(&edit).contains("can never fire"), "{}", text(&edit));
    let daily = ok_json(&c.ctl(&["task", "show", "daily", "-o", "json"]));
    assert_eq!(daily["schedules"][0], "@daily");
    assert_eq!(daily["version"], 1);

    // And so is an apply file that declares one.
    let file = c.dir.join("never.toml");
    std::fs::write(
        &file,
        "[[task]]\nname = \"nov31\"\ncommand = \"true\"\nschedules = [\"0 0 31 11 *\"]\n",
    )
    .unwrap();
    let apply = c.ctl(&["apply", "-f", file.to_str().unwrap()]);
    assert_ne!(code(&apply), 0, "{}", text(&apply));
    assert!(text(&apply).contains("can never fire"), "{}", text(&apply));
    assert_eq!(code(&c.ctl(&["task", "show", "nov31"])), 3);

    // Nodes say which tz database they fire by.
    let tzdata = std::fs::read_to_string("/usr/share/zoneinfo/tzdata.zi")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.strip_prefix("# version "))
                .map(str::to_string)
        });
    let nodes = ok_json(&c.ctl(&["node", "ls", "-o", "json"]));
    assert_eq!(
        nodes[0]["tzdata"].as_str().map(str::to_string),
        tzdata,
        "{nodes}"
    );
    let wide = c.ctl(&["node", "ls", "-o", "wide"]);
    let wide = String::from_utf8_lossy(&wide.stdout).to_string();
    assert!(wide.contains("TZDATA"), "{wide}");
    if let Some(v) = tzdata {
        assert!(wide.contains(&v), "{wide}");
    }
}

#[tokio::test]
async fn a_center_that_accepts_and_never_answers_is_a_timeout_with_its_own_exit_code() {
    // Takes connections and reads nothing back: a hung center, or a half-open connection.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(1) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let started = std::time::Instant::now();
    let out = Command::new(bin("cloudtaskctl"))
        .args(["task", "ls", "--request-timeout", "1s", "-o", "json"])
        .env("CLOUDTASK_SERVER", format!("http://{addr}"))
        .env("CLOUDTASK_TOKEN", "ct_whatever")
        .env("XDG_CONFIG_HOME", std::env::temp_dir().join("ct-no-config"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", text(&out));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["exit"], 8);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer within 1s"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "it gave up on its own"
    );
    drop(held);
}

#[tokio::test]
async fn users_log_in_get_grants_and_are_told_what_they_may_not_do() {
    let c = Center::start(&[]).await;
    let cfg = c.dir.join("cfg");
    let admin_pw = std::fs::read_to_string(c.dir.join("admin.password")).unwrap();
    // The first admin logs in with the password its first start wrote.
    let login = bare(
        &cfg,
        &[
            "login",
            "--server",
            &c.url,
            "--user",
            "admin",
            "--password-stdin",
        ],
        Some(&admin_pw),
    );
    assert!(login.status.success(), "{}", text(&login));
    assert!(text(&login).contains("until"), "{}", text(&login));
    let me = ok_json(&bare(&cfg, &["whoami", "-o", "json"], None));
    assert_eq!(me["principal"], "user:admin");
    assert_eq!(me["grants"][0]["role"], "admin");

    let create = bare(
        &cfg,
        &[
            "user",
            "create",
            "ann",
            "--role",
            "operator",
            "--group",
            "ops",
            "--password-stdin",
        ],
        Some("ann's long password\n"),
    );
    assert!(create.status.success(), "{}", text(&create));
    let grant = bare(
        &cfg,
        &["user", "grant", "ann", "viewer", "--group", "web"],
        None,
    );
    assert!(grant.status.success(), "{}", text(&grant));
    let users = ok_json(&bare(&cfg, &["user", "ls", "-o", "json"], None));
    let ann = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "ann")
        .unwrap();
    assert_eq!(ann["grants"].as_array().unwrap().len(), 2, "{ann}");
    assert!(!users.to_string().contains("argon2"), "no hash in answers");
    let short = bare(
        &cfg,
        &["user", "create", "bob", "--password-stdin"],
        Some("short\n"),
    );
    assert_eq!(code(&short), 2, "{}", text(&short));
    assert!(
        text(&short).contains("at least 10 characters"),
        "{}",
        text(&short)
    );

    // Ann, in a config of her own.
    let ann_cfg = c.dir.join("ann-cfg");
    let wrong = bare(
        &ann_cfg,
        &[
            "login",
            "--server",
            &c.url,
            "--user",
            "ann",
            "--password-stdin",
        ],
        Some("not it at all\n"),
    );
    assert_eq!(code(&wrong), 5, "{}", text(&wrong));
    assert!(
        text(&wrong).contains("wrong user name or password"),
        "{}",
        text(&wrong)
    );
    let login = bare(
        &ann_cfg,
        &[
            "login",
            "--server",
            &c.url,
            "--user",
            "ann",
            "--password-stdin",
        ],
        Some("ann's long password\n"),
    );
    assert!(login.status.success(), "{}", text(&login));
    let made = c.ctl(&["task", "create", "t", "--group", "ops", "--cmd", "true"]);
    assert!(made.status.success(), "{}", text(&made));
    let pause = bare(&ann_cfg, &["task", "pause", "t", "--group", "ops"], None);
    assert!(pause.status.success(), "{}", text(&pause));
    let delete = bare(&ann_cfg, &["task", "rm", "t", "--group", "ops"], None);
    assert_eq!(code(&delete), 6, "{}", text(&delete));
    assert!(
        text(&delete).contains("forbidden: ann needs the editor role in group \"ops\""),
        "{}",
        text(&delete)
    );
    let users = bare(&ann_cfg, &["user", "ls"], None);
    assert_eq!(code(&users), 6, "{}", text(&users));
    assert!(
        text(&users).contains("needs the admin role"),
        "{}",
        text(&users)
    );

    // Revoked, then logged out: the session no longer works.
    let revoke = bare(
        &cfg,
        &["user", "revoke", "ann", "operator", "--group", "ops"],
        None,
    );
    assert!(revoke.status.success(), "{}", text(&revoke));
    let resume = bare(&ann_cfg, &["task", "resume", "t", "--group", "ops"], None);
    assert_eq!(
        code(&resume),
        6,
        "the revocation holds at once: {}",
        text(&resume)
    );
    let token = std::fs::read_to_string(ann_cfg.join("cloudtask/config.toml")).unwrap();
    let token = token
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let logout = bare(&ann_cfg, &["logout"], None);
    assert!(logout.status.success(), "{}", text(&logout));
    let again = c.ctl_env(&["task", "ls"], &[("CLOUDTASK_TOKEN", &token)]);
    assert_eq!(code(&again), 5, "the session ended: {}", text(&again));
    let rm = bare(&cfg, &["user", "rm", "ann"], None);
    assert!(rm.status.success(), "{}", text(&rm));
}

/// `task ls` reads the list in pages (`--chunk-size`): the table and the one JSON array hold
/// every task once, in order, however the pages fall.
#[tokio::test]
async fn task_ls_reads_in_pages_and_prints_one_list() {
    let c = Center::start(&[]).await;
    let names: Vec<String> = (0..5).map(|i| format!("paged-{i}")).collect();
    for n in &names {
        c.create_task(serde_json::json!({"name": n, "command": "true"}))
            .await;
    }
    for chunk in ["1", "2", "5", "1000"] {
        let listed = ok_json(&c.ctl(&["task", "ls", "--chunk-size", chunk, "-o", "json"]));
        let got: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, names, "chunk size {chunk}");
        let out = c.ctl(&["task", "ls", "--chunk-size", chunk]);
        assert!(out.status.success(), "{}", text(&out));
        let table = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(table.matches("NAME").count(), 1, "one header: {table}");
        for n in &names {
            assert_eq!(table.matches(n.as_str()).count(), 1, "{n} once: {table}");
        }
    }
    assert_eq!(code(&c.ctl(&["task", "ls", "--chunk-size", "0"])), 2);
}

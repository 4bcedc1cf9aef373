//! The console end to end, as an operator drives it: the real `cloudtaskctl` inside tmux
//! against a real standalone center, keys typed with `send-keys`, the screen read with
//! `capture-pane` (polled with a deadline), real `vim` as `$EDITOR`.

use std::process::Command;
use std::time::Duration;

use cloudtask_e2e::tmux::Tmux;
use cloudtask_e2e::{Center, bin};
use reqwest::Method;
use serde_json::json;

fn console(t: &Tmux) {
    t.type_text(&format!("{}", bin("cloudtaskctl").display()));
    t.keys(&["Enter"]);
    t.wait_for("dashboard");
}

/// One key at a time, letting the console take each (tmux would merge a burst of Escapes).
fn press(t: &Tmux, key: &str) {
    t.keys(&[key]);
    std::thread::sleep(Duration::from_millis(120));
}

fn filter(t: &Tmux, name: &str) {
    press(t, "/");
    t.type_text(name);
    press(t, "Enter");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_works_through_the_console() {
    let c = Center::start(&[]).await;
    c.create_task(json!({
        "name": "hello",
        "command": "for i in 1 2 3 4 5 6; do echo hello $i; sleep 0.4; done",
        "schedules": ["0 0 0 1 1 *"],
    }))
    .await;
    c.create_task(json!({
        "name": "long",
        "command": "for i in $(seq 600); do echo tick $i; sleep 0.2; done",
        "schedules": ["0 0 0 1 1 *"],
    }))
    .await;
    let t = Tmux::start(&c, 160, 48, &[]);
    console(&t);

    // Filter, open, run now, and watch the log grow.
    press(&t, "Enter");
    t.wait_for("tasks 2/2");
    filter(&t, "hello");
    t.wait_for("tasks 1/2");
    press(&t, "Enter");
    t.wait_for("default/hello");
    press(&t, "t");
    t.wait_for("start hello: started");
    t.wait_until("a run to show", |s| {
        s.contains("running") || s.contains("succeeded")
    });
    press(&t, "l");
    t.wait_for("hello 1");
    t.wait_for("hello 4");
    t.wait_for("· succeeded ·");

    // A long run, stopped after a confirmation: it ends killed.
    press(&t, "Escape");
    press(&t, "Escape");
    filter(&t, "long");
    t.wait_for("tasks 1/2");
    press(&t, "t");
    t.wait_for("start long: started");
    t.wait_until("the long run to show", |s| s.contains("running"));
    press(&t, "l");
    t.wait_for("tick 3");
    press(&t, "x");
    t.wait_for("Stop the running runs of long?");
    press(&t, "y");
    t.wait_for("· killed ·");
    press(&t, "Escape");

    // Pause, shown as a word.
    press(&t, "p");
    t.wait_for("pause long: long is paused");
    t.wait_until("the paused row", |s| s.contains("paused     default/long"));

    // Clone under a new name.
    press(&t, "c");
    t.wait_for("Clone long as");
    press(&t, "Enter");
    t.wait_for("created long-copy");

    // Edit the whole task in real vim: every keystroke reaches the editor.
    press(&t, "e");
    t.wait_for("editing task default/long");
    t.type_text(":%s/tick/tock/");
    t.keys(&["Enter"]);
    t.type_text(":wq");
    t.keys(&["Enter"]);
    t.wait_for("saved long at version");
    let (_, v) = c.api(Method::GET, "/tasks/long", None).await;
    assert!(v["command"].as_str().unwrap().contains("echo tock"), "{v}");

    // Delete with the typed name; a wrong name deletes nothing.
    filter(&t, "long-copy");
    t.wait_for("tasks 1/3");
    press(&t, "C-d");
    t.wait_for("Type its name");
    t.type_text("long-cop");
    press(&t, "Enter");
    t.wait_for("not deleted");
    press(&t, "C-d");
    t.type_text("long-copy");
    press(&t, "Enter");
    t.wait_for("delete long-copy: deleted");
    let (status, _) = c.api(Method::GET, "/tasks/long-copy", None).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);

    // Resize to 80×24: the essentials still fit.
    Command::new("tmux")
        .args(["resize-window", "-t", &t.session, "-x", "80", "-y", "24"])
        .status()
        .unwrap();
    press(&t, "Escape");
    t.wait_until("the footer at 80×24", |s| {
        s.lines().count() <= 24 && s.contains("dashboard › tasks") && s.contains("tasks 2/2")
    });

    // Quit restores the terminal.
    press(&t, "C-c");
    t.assert_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn center_loss_signals_and_panic_leave_a_working_terminal_and_no_color_keeps_the_selection() {
    let mut c = Center::start(&[]).await;
    c.create_task(json!({"name": "one", "command": "true", "schedules": ["@daily"]}))
        .await;
    let t = Tmux::start(
        &c,
        100,
        30,
        &[("NO_COLOR", "1"), ("CLOUDTASK_TUI_TEST_PANIC", "1")],
    );
    console(&t);
    press(&t, "Enter");
    t.wait_for("tasks 1/1");
    let screen = t.capture_escapes();
    // No colour codes (30–37, 40–47, 90–97, 38;/48;), but the selection is reverse video.
    let colour = [
        "[31m", "[32m", "[33m", "[34m", "[36m", "[44m", "38;5", "48;5", ";44m", ";34m",
    ];
    for code in colour {
        assert!(
            !screen.contains(code),
            "NO_COLOR screen has {code:?}: {screen:?}"
        );
    }
    assert!(
        screen.contains("\u{1b}[7m") || screen.contains(";7m"),
        "selection not visible: {screen:?}"
    );

    // The center goes away: the console stays, keeps the rows, says since when, and comes
    // back by itself when the center does.
    let addr = c.url.trim_start_matches("http://").to_string();
    c.kill9();
    t.wait_for("disconnected since");
    t.wait_for("default/one");
    let _back = Center::start_in(&c.dir, &["--listen", &addr]).await;
    t.wait_for("● live");
    t.wait_for("reconnected to the center");

    // SIGTERM.
    let pid = t.child_pid();
    assert!(!pid.is_empty());
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    t.assert_restored();

    // A panic (debug builds: F12 with CLOUDTASK_TUI_TEST_PANIC set).
    console(&t);
    press(&t, "F12");
    t.wait_for("test panic requested");
    t.assert_restored();

    // Not a terminal: a hint, not a broken screen.
    let out = Command::new(bin("cloudtaskctl"))
        .env("CLOUDTASK_SERVER", &c.url)
        .env("CLOUDTASK_TOKEN", &c.token)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--help"));
}

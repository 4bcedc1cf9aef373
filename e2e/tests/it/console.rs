//! The console end to end, as an operator drives it: the real `cloudtaskctl` inside tmux
//! against a real standalone center, keys typed with `send-keys`, the screen read with
//! `capture-pane` (polled with a deadline), real `vim` as `$EDITOR`.

use std::process::Command;
use std::time::{Duration, Instant};

use cloudtask_e2e::{Center, bin};
use reqwest::Method;
use serde_json::json;

struct Tmux {
    session: String,
}

impl Tmux {
    /// A shell in a detached session of `w`×`h`, with the console's environment.
    fn start(c: &Center, w: u16, h: u16, extra_env: &[(&str, &str)]) -> Tmux {
        let session = format!(
            "ct{}",
            std::process::id() ^ (c.url.len() as u32 * 7919) ^ rand_tag()
        );
        let mut cmd = Command::new("tmux");
        cmd.args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        let env = [
            ("CLOUDTASK_SERVER", c.url.as_str()),
            ("CLOUDTASK_TOKEN", c.token.as_str()),
            ("EDITOR", "vim"),
            ("TERM", "xterm-256color"),
            ("RUST_BACKTRACE", "0"),
        ];
        for (k, v) in env.iter().chain(extra_env) {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        cmd.args([
            "-e",
            &format!("XDG_CONFIG_HOME={}", c.dir.join("cfg").display()),
        ]);
        cmd.args(["bash", "--norc", "--noprofile"]);
        assert!(cmd.status().unwrap().success(), "tmux did not start");
        let t = Tmux { session };
        t.keys(&["export PS1='$ '", "Enter"]);
        t
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys {keys:?}");
    }

    /// Types literal text (no key names).
    fn type_text(&self, text: &str) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with its escape sequences (colours, reverse video).
    fn capture_escapes(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-e", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what))
    }

    fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.capture();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The terminal is back to normal: main screen, canonical mode with echo.
    fn assert_restored(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.display("#{alternate_on}") != "0" {
            assert!(Instant::now() < deadline, "still on the alternate screen");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.keys(&["clear; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo | sort | tr '\\n' ' '; echo STTY-$((6*7))-DONE", "Enter"]);
        let screen = self.wait_for("STTY-42-DONE");
        assert!(
            screen.contains("echo icanon"),
            "terminal not restored: {screen}"
        );
    }

    /// The pid of the program running in the pane's shell.
    fn child_pid(&self) -> String {
        let shell = self.display("#{pane_pid}");
        let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

fn rand_tag() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

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
async fn sigterm_and_panic_restore_the_terminal_and_no_color_keeps_the_selection() {
    let c = Center::start(&[]).await;
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

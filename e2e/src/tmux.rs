//! tmux as a person at a terminal: a shell in a detached session, keys typed with
//! `send-keys`, the screen read with `capture-pane` and polled with a deadline.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::Center;

pub struct Tmux {
    pub session: String,
}

impl Tmux {
    /// A shell in a detached session of `w`×`h`, with the console's environment.
    pub fn start(c: &Center, w: u16, h: u16, extra_env: &[(&str, &str)]) -> Tmux {
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

    pub fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys {keys:?}");
    }

    /// Types literal text (no key names).
    pub fn type_text(&self, text: &str) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with its escape sequences (colours, reverse video).
    pub fn capture_escapes(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-e", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what))
    }

    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
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
    pub fn assert_restored(&self) {
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
    pub fn child_pid(&self) -> String {
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

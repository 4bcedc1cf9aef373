//! Real receivers of the center's alerts, started per test on free ports: an SMTP server
//! (Debian's `python3-aiosmtpd`, plain, STARTTLS with AUTH, or implicit TLS with a
//! certificate from a CA made in the test) and a webhook receiver that verifies signatures
//! with the Standard Webhooks reference library. Each writes what it received as JSON files
//! the test reads.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::tls::TestCa;
use crate::zookeeper::free_port;

/// How the test SMTP server protects its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    Plain,
    /// STARTTLS required, then AUTH (user `ct`, password [`SMTP_PASSWORD`]).
    Starttls,
    /// TLS from the first byte.
    Tls,
}

pub const SMTP_USER: &str = "ct";
pub const SMTP_PASSWORD: &str = "s3cret-smtp";

/// A receiver process and the directory it writes what it got into.
pub struct Sink {
    child: Child,
    pub port: u16,
    out: PathBuf,
    /// The CA that signed a TLS sink's certificate (for `--smtp-ca-file`).
    pub ca_file: Option<PathBuf>,
    _temp: tempfile::TempDir,
}

fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not listen on {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

impl Sink {
    /// An SMTP server (Debian's aiosmtpd, run by the system's Python that has it).
    pub fn smtp(mode: SmtpMode) -> Sink {
        Sink::smtp_at(mode, free_port())
    }

    /// An SMTP server on `port` (one a center was told of before the server was up).
    pub fn smtp_at(mode: SmtpMode, port: u16) -> Sink {
        let temp = tempfile::tempdir().unwrap();
        let out = temp.path().join("mail");
        std::fs::create_dir(&out).unwrap();
        let py = script(
            temp.path(),
            "smtp_sink.py",
            include_str!("../scripts/smtp_sink.py"),
        );
        let mut args: Vec<String> = vec![
            py.display().to_string(),
            match mode {
                SmtpMode::Plain => "plain",
                SmtpMode::Starttls => "starttls",
                SmtpMode::Tls => "tls",
            }
            .into(),
            port.to_string(),
            out.display().to_string(),
        ];
        let mut ca_file = None;
        if mode != SmtpMode::Plain {
            let ca = TestCa::new("smtp test CA");
            let (cert, key) = (temp.path().join("smtp.pem"), temp.path().join("smtp.key"));
            ca.issue(&["127.0.0.1", "localhost"], &cert, &key);
            ca_file = Some(ca.write_ca(&temp.path().join("ca.pem")));
            args.extend([cert.display().to_string(), key.display().to_string()]);
            args.extend([SMTP_USER.to_string(), SMTP_PASSWORD.to_string()]);
        }
        let mut child = Command::new("/usr/bin/python3")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("/usr/bin/python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
        wait_listening(port, &mut child, "the SMTP sink");
        Sink {
            child,
            port,
            out,
            ca_file,
            _temp: temp,
        }
    }

    /// A webhook receiver at `http://127.0.0.1:PORT/…` verifying with `secret` (`whsec_…`).
    pub fn webhook(secret: &str) -> Sink {
        let temp = tempfile::tempdir().unwrap();
        let out = temp.path().join("hooks");
        std::fs::create_dir(&out).unwrap();
        let py = script(
            temp.path(),
            "webhook_sink.py",
            include_str!("../scripts/webhook_sink.py"),
        );
        let port = free_port();
        let mut child = Command::new("python3")
            .arg(&py)
            .arg(port.to_string())
            .arg(&out)
            .arg(secret)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with standardwebhooks (pip install standardwebhooks)");
        wait_listening(port, &mut child, "the webhook sink");
        Sink {
            child,
            port,
            out,
            ca_file: None,
            _temp: temp,
        }
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits until `done` holds for what was received; panics naming `what` after `within`.
    pub async fn wait(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited {within:?} for {what}; received: {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

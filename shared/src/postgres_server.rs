//! A real PostgreSQL server for tests: Debian's `postgresql`, one server per test on a free
//! loopback port with its own data dir, the way the harness runs ZooKeeper.
//!
//! `initdb` runs once per machine and PostgreSQL version into a template kept under the
//! system temp dir; each server starts from a copy of it (a copy takes a tenth of an
//! `initdb`). The server runs as the `postgres` user when the tests run as root, since
//! PostgreSQL refuses to run as root. Trust authentication on loopback only: a test server.
// Test support: a server that cannot start is the test's failure, said where it happens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::server_process::{spawn_logged, wait_ready};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// A running test server; killed and removed when dropped.
pub struct PostgresServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    bindir: PathBuf,
    owner: Option<(u32, u32)>,
    /// Extra `-c name=value` settings of every start.
    settings: Vec<String>,
    _temp: tempfile::TempDir,
}

/// Where the PostgreSQL server programs are: `pg_config --bindir`, else Debian's newest.
fn bindir() -> PathBuf {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|d| d.join("initdb").exists());
    if let Some(d) = from_pg_config {
        return d;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|d| d.join("initdb").exists());
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL is not installed: apt-get install -y postgresql")
}

/// The uid and gid of `postgres` when we are root (PostgreSQL will not run as root).
fn owner() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((
        id("-u").expect("running as root needs the postgres user (apt-get install postgresql)"),
        id("-g")?,
    ))
}

fn chown_tree(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        let status = Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}")])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "chown {}", path.display());
    }
}

fn run_as(cmd: &mut Command, owner: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// The template data dir, made once: concurrent test processes each make one aside and the
/// first to rename it into place wins.
fn template(bindir: &Path, owner: Option<(u32, u32)>) -> PathBuf {
    let version = bindir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let root = std::env::temp_dir().join(format!("cloudtask-pg-template-{version}"));
    if root.join("PG_VERSION").exists() {
        return root;
    }
    let aside = tempfile::Builder::new()
        .prefix("cloudtask-pg-initdb")
        .tempdir()
        .unwrap()
        .keep();
    chown_tree(&aside, owner);
    let data = aside.join("data");
    let out = run_as(
        Command::new(bindir.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "-N",
            ])
            .current_dir(&aside),
        owner,
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Losing the race is fine: the winner's template is as good.
    let _ = std::fs::rename(&data, &root);
    let _ = std::fs::remove_dir_all(&aside);
    root
}

impl PostgresServer {
    /// Starts a server with test settings and waits until it accepts connections. No fsync
    /// and no full-page writes: they guard against the machine's crash, which these tests do
    /// not cause. Commits stay synchronous: a commit is in the kernel's hands before it is
    /// answered, so a kill -9 of the server loses nothing it acknowledged (with
    /// `synchronous_commit=off` it would lose the last fraction of a second, reports included).
    pub fn start() -> PostgresServer {
        PostgresServer::start_with(&["fsync=off", "full_page_writes=off"])
    }

    /// Starts a server with these `-c` settings.
    pub fn start_with(settings: &[&str]) -> PostgresServer {
        let bindir = bindir();
        let owner = owner();
        let template = template(&bindir, owner);
        let temp = tempfile::Builder::new()
            .prefix("cloudtask-pg")
            .tempdir()
            .unwrap();
        let dir = temp.path().to_path_buf();
        let status = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(dir.join("data"))
            .status()
            .unwrap();
        assert!(status.success(), "copying the PostgreSQL template failed");
        chown_tree(&dir, owner);
        let mut server = PostgresServer {
            child: None,
            port: free_port(),
            dir,
            bindir,
            owner,
            settings: settings.iter().map(|s| s.to_string()).collect(),
            _temp: temp,
        };
        server.restart();
        server
    }

    /// Starts a server that takes TCP connections only over TLS (certificate `cert`, key
    /// `key`, PEM) and only with the superuser's password `password` (SCRAM).
    pub fn start_tls(cert: &Path, key: &Path, password: &str) -> PostgresServer {
        let mut server = PostgresServer::start();
        server.kill9();
        let data = server.dir.join("data");
        std::fs::copy(cert, data.join("server.crt")).unwrap();
        std::fs::copy(key, data.join("server.key")).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        chown_tree(&data, server.owner);
        let status = Command::new("chmod")
            .arg("0600")
            .arg(data.join("server.key"))
            .status()
            .unwrap();
        assert!(status.success());
        server.settings.extend(
            [
                "ssl=on",
                "ssl_cert_file=server.crt",
                "ssl_key_file=server.key",
                "password_encryption=scram-sha-256",
            ]
            .map(String::from),
        );
        server.restart();
        server.psql(
            "postgres",
            &format!("ALTER USER postgres PASSWORD '{password}'"),
        );
        server
    }

    /// A URL for database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs one SQL command with `psql` as the superuser, over the server's Unix socket
    /// (trusted whatever TCP demands), and returns what it printed (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
            ])
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-d", db])
            .arg("-c")
            .arg(sql)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kill -9 the server: the postmaster and every backend (its process group), as a power
    /// loss would end them; the next start recovers from the WAL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            // pkill by group: procps-ng 4.0.2's `kill -9 -PGID` signals every process (-1).
            let _ = Command::new("pkill")
                .args(["-KILL", "-g", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and data, and waits until it is ready.
    pub fn restart(&mut self) {
        self.kill9();
        let mut cmd = Command::new(self.bindir.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "max_connections=200"]);
        for s in &self.settings {
            cmd.args(["-c", s]);
        }
        let log = self.dir.join("postgres.log");
        self.child = Some(spawn_logged(
            run_as(&mut cmd, self.owner).process_group(0),
            &log,
        ));
        wait_ready("PostgreSQL", &log, Duration::from_secs(60), || {
            Command::new(self.bindir.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success())
        });
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A free TCP port on loopback (the listener closes before the server binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

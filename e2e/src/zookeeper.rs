//! A real ZooKeeper server for tests: Debian's `zookeeper` package, one standalone server per
//! test on a free port with its own data dir. `tickTime` is 200 ms, so sessions can be as short
//! as 0.4 s and failover tests stay quick.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use cloudtask_shared::server_process::{spawn_logged, wait_ready};

const CLASSPATH: &str = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar";

pub struct ZooKeeper {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

pub use cloudtask_shared::postgres_server::free_port;

impl ZooKeeper {
    /// Starts a server and waits until it answers `ruok`.
    pub fn start() -> ZooKeeper {
        assert!(
            Path::new("/usr/share/java/zookeeper.jar").exists(),
            "ZooKeeper is not installed: apt-get install -y zookeeper"
        );
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let port = free_port();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(
            dir.join("zoo.cfg"),
            format!(
                "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 maxSessionTimeout=20000\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut zk = ZooKeeper {
            child: None,
            port,
            dir,
            _temp: temp,
        };
        zk.restart();
        zk
    }

    /// `127.0.0.1:PORT` followed by `suffix` (a chroot such as `/cloudtask`).
    pub fn connect(&self, suffix: &str) -> String {
        format!("127.0.0.1:{}{suffix}", self.port)
    }

    /// kill -9 the server: sessions stay recorded in its data dir.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.kill9();
        let log = self.dir.join("zookeeper.log");
        let mut cmd = Command::new("java");
        cmd.args([
            "-Xmx256m",
            "-cp",
            CLASSPATH,
            &format!("-Dzookeeper.log.dir={}", self.dir.display()),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ])
        .arg(self.dir.join("zoo.cfg"));
        self.child = Some(spawn_logged(&mut cmd, &log));
        wait_ready("ZooKeeper", &log, Duration::from_secs(60), || self.ruok());
    }

    fn ruok(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut answer = String::new();
        s.write_all(b"ruok").is_ok() && s.read_to_string(&mut answer).is_ok() && answer == "imok"
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        self.kill9();
    }
}

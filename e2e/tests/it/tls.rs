//! TLS round trip: a CA and a server certificate made in the test, a cluster center serving
//! HTTPS, `cloudtaskctl` and an agent verifying it against the CA file, a wrong CA refused,
//! and a renewed certificate picked up on SIGHUP.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cloudtask_e2e::tls::TestCa;
use cloudtask_e2e::zookeeper::ZooKeeper;
use cloudtask_e2e::{Agent, Center, output_text as text, wait_for};
use serde_json::json;

fn ca_file_env(path: &Path) -> [(&'static str, String); 1] {
    [("CLOUDTASK_CA_FILE", path.display().to_string())]
}

fn ctl_with_ca(c: &Center, ca: &Path, args: &[&str]) -> std::process::Output {
    let [(k, v)] = ca_file_env(ca);
    c.ctl_env(args, &[(k, &v)])
}

#[tokio::test]
async fn ctl_and_an_agent_verify_the_center_against_its_ca_and_a_renewed_certificate_is_served_after_sighup()
 {
    let zk = ZooKeeper::start();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let ca = TestCa::new("cloudtask test CA");
    let ca_file = ca.write_ca(&dir.join("ca.pem"));
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    ca.issue(&["127.0.0.1", "localhost"], &cert, &key);
    let wrong = TestCa::new("someone else's CA");
    let wrong_file = wrong.write_ca(&dir.join("wrong-ca.pem"));

    let mut c = Center::start_cluster(
        dir,
        &zk.connect("/ct"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    assert!(c.url.starts_with("https://127.0.0.1:"), "{}", c.url);

    // cloudtaskctl: trusted through the CA file; a wrong CA and the system's roots refused.
    let ok = ctl_with_ca(&c, &ca_file, &["version"]);
    assert!(ok.status.success(), "{}", text(&ok));
    for refused in [
        ctl_with_ca(&c, &wrong_file, &["version"]),
        c.ctl(&["version"]),
    ] {
        assert_eq!(refused.status.code(), Some(7), "{}", text(&refused));
        let said = text(&refused);
        assert!(said.contains("certificate"), "{said}");
        assert!(said.contains("--ca-file"), "{said}");
    }
    // A CA file that is not one is a usage error naming it.
    let bad = ctl_with_ca(&c, &cert.with_file_name("nothing.pem"), &["version"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("nothing.pem"), "{}", text(&bad));
    // Plain HTTP to the TLS port gets no answer from the API.
    let plain = c.ctl_env(
        &["version"],
        &[("CLOUDTASK_SERVER", &c.url.replace("https://", "http://"))],
    );
    assert!(!plain.status.success(), "{}", text(&plain));

    // A context remembers its CA file.
    let login = ctl_with_ca(&c, &ca_file, &["login", "--name", "tls"]);
    assert!(login.status.success(), "{}", text(&login));
    let from_context = Command::new(cloudtask_e2e::bin("cloudtaskctl"))
        .arg("version")
        .env("XDG_CONFIG_HOME", dir.join("ctl-config"))
        .env("CLOUDTASK_CONTEXT", "tls")
        .env_remove("CLOUDTASK_SERVER")
        .env_remove("CLOUDTASK_TOKEN")
        .env_remove("CLOUDTASK_CA_FILE")
        .output()
        .unwrap();
    assert!(from_context.status.success(), "{}", text(&from_context));

    // An agent with the wrong CA cannot join and says why; with the right one it joins and
    // runs a task.
    let agent_trusting = |name: &str, ca: &Path| {
        Agent::start_with(
            name,
            "default",
            &zk.connect("/ct"),
            &c.url,
            dir,
            &["--ca-file", ca.to_str().unwrap()],
        )
    };
    let mut lost = agent_trusting("node-x", &wrong_file);
    wait_for(
        Duration::from_secs(30),
        "the refused certificate in the log",
        || lost.log().contains("certificate"),
    )
    .await;
    assert!(lost.log().contains("--ca-file"), "{}", lost.log());
    assert!(!lost.dir.join("node.token").exists(), "no credential");
    lost.kill9();

    let _agent = agent_trusting("node-1", &ca_file);
    c.create_task(json!({"name": "hello", "command": "echo over-tls", "schedules": ["@yearly"]}))
        .await;
    c.wait_task("hello", Duration::from_secs(30), "placed on node-1", |t| {
        t.node.as_deref() == Some("node-1")
    })
    .await;
    let (run, log) = c.run_now("hello").await;
    assert_eq!(
        run.status,
        cloudtask_shared::RunStatus::Succeeded,
        "{run:?}"
    );
    assert!(log.contains("over-tls"), "{log}");

    // Renewal: a certificate from another CA in the same files, then SIGHUP; new
    // connections get it, and what trusted the old CA no longer connects.
    wrong.issue(&["127.0.0.1"], &cert, &key);
    c.signal("HUP");
    wait_for(Duration::from_secs(30), "the renewed certificate", || {
        ctl_with_ca(&c, &wrong_file, &["version"]).status.success()
    })
    .await;
    let old = ctl_with_ca(&c, &ca_file, &["version"]);
    assert_eq!(old.status.code(), Some(7), "{}", text(&old));
    // A failed reload (a half-written key) keeps serving the renewed certificate.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    c.signal("HUP");
    wait_for(
        Duration::from_secs(30),
        "the failed reload in the log",
        || {
            std::fs::read_to_string(dir.join("center.log"))
                .unwrap_or_default()
                .contains("still serving the previous one")
        },
    )
    .await;
    let still = ctl_with_ca(&c, &wrong_file, &["version"]);
    assert!(still.status.success(), "{}", text(&still));
    c.terminate(Duration::from_secs(10)).await;
}

//! A center on a PostgreSQL that takes only TLS with a password: it connects when the URL
//! verifies the server's certificate and gives the password, and refuses to start, naming
//! the problem, when it does not.

use std::path::Path;
use std::process::Command;

use cloudtask_e2e::tls::TestCa;
use cloudtask_e2e::{Center, bin};
use cloudtask_shared::postgres_server::PostgresServer;
use serde_json::json;

/// `cloudtask-center --standalone --store URL` on a fresh data dir, which must fail to open
/// its store: what it said.
fn refused(dir: &Path, url: &str) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg(bin("cloudtask-center"))
        .args([
            "--standalone",
            "--allow-root-runs",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(["--store", url])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the center started with {url}");
    assert_ne!(out.status.code(), Some(124), "the center hung with {url}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_center_reaches_its_store_over_verified_tls_with_a_password_and_nothing_less() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let ca = TestCa::new("store CA");
    let ca_file = ca.write_ca(&dir.join("ca.pem"));
    ca.issue(&["localhost"], &dir.join("pg.crt"), &dir.join("pg.key"));
    let pg = PostgresServer::start_tls(&dir.join("pg.crt"), &dir.join("pg.key"), "s3cret-pw");
    pg.psql("postgres", "CREATE DATABASE ct");
    let base = format!("postgres://postgres:s3cret-pw@localhost:{}/ct", pg.port);
    let verified = format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        ca_file.display()
    );

    // Without TLS the server says no; with a wrong password, or a certificate nobody
    // trusts, neither is the store opened.
    for (tried, (url, says)) in [
        (format!("{base}?sslmode=disable"), "no encryption"),
        (
            format!(
                "postgres://postgres:wrong@localhost:{}/ct?sslmode=verify-full&sslrootcert={}",
                pg.port,
                ca_file.display()
            ),
            "password authentication failed",
        ),
        (format!("{base}?sslmode=verify-full"), "certificate"),
    ]
    .into_iter()
    .enumerate()
    {
        let d = dir.join(format!("refused-{tried}"));
        std::fs::create_dir_all(&d).unwrap();
        let err = refused(&d, &url);
        assert!(err.contains(says), "{url}: {err}");
        assert!(
            !err.contains("s3cret-pw"),
            "the password reached the log: {err}"
        );
    }

    // Verified TLS with the password: the center serves, and what it writes is in the store.
    let served = dir.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let c = Center::start_in(&served, &["--store", &verified]).await;
    c.create_task(json!({"name": "over-tls", "command": "true", "schedules": ["@daily"]}))
        .await;
    let names = pg.psql("ct", "SELECT name FROM tasks");
    assert_eq!(names.trim(), "over-tls");
}

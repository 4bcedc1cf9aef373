//! The center's server limits: a connection that sends no request and an upload that stops
//! sending are closed after the idle timeout, a transfer that keeps flowing is never cut, and
//! beyond its requests in flight the center sheds load with 503 `busy` at once.

use std::time::Duration;

use cloudtask_e2e::Center;
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything the peer sends until it closes the connection, within `within`.
async fn read_until_closed(conn: &mut TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(within, conn.read_to_end(&mut got))
        .await
        .expect("the center closes the connection in time")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

/// Polls `GET /version` until it answers 200, for up to 20 s.
async fn version_answers(c: &Center) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = c.api(Method::GET, "/version", None).await;
        if status == StatusCode::OK {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET /version still answers {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn idle_connections_and_stalled_uploads_are_closed_and_excess_requests_are_shed() {
    let c = Center::start(&["--idle-timeout", "1s", "--max-requests", "1"]).await;
    let addr = c.url.trim_start_matches("http://").to_string();

    // A connection that never sends a request is closed (no file descriptor held forever).
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    read_until_closed(&mut idle, Duration::from_secs(20)).await;

    // An upload that sends its headers and part of its body, then nothing: it holds the one
    // request slot, so other requests are shed at once with `busy`...
    let head = format!(
        "POST /api/v1/packages?file_name=a.sh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100000\r\n\r\n#!/bin/sh\n",
        c.token
    );
    // (It sends a byte now and then meanwhile, so that it holds the slot however slow this
    // machine is; only then does it go quiet. The in-process agent's own requests may hold the
    // slot when the upload comes: then the upload is the one shed, and it starts over.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut stalled = 'holding: loop {
        let mut stalled = TcpStream::connect(&addr).await.unwrap();
        stalled.write_all(head.as_bytes()).await.unwrap();
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the upload never held the slot"
            );
            let mut peek = [0u8; 1];
            match stalled.try_read(&mut peek) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // Answered (shed) or closed: not holding the slot.
                _ => continue 'holding,
            }
            if stalled.write_all(b"#").await.is_err() {
                continue 'holding;
            }
            let (status, body) = c.api(Method::GET, "/version", None).await;
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(body["error"]["code"], "busy", "{body}");
                match stalled.try_read(&mut peek) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break 'holding stalled,
                    _ => continue 'holding,
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // ...until the body's idle timeout cuts the upload: it is refused, and the slot is free.
    let answer = read_until_closed(&mut stalled, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("upload interrupted"), "{answer}");
    version_answers(&c).await;

    // An upload that takes three times the idle timeout but never pauses that long is whole.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let chunks = futures_util::stream::unfold(0u32, |i| async move {
            if i == 15 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let line = if i == 0 {
                "#!/bin/sh\n".to_string()
            } else {
                format!("echo {i}\n")
            };
            Some((Ok::<_, std::io::Error>(line), i + 1))
        });
        let resp = cloudtask_e2e::http()
            .post(format!("{}/api/v1/packages?file_name=slow.sh", c.url))
            .bearer_auth(&c.token)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        // The in-process agent's own requests may take the one slot for a moment.
        if status == StatusCode::SERVICE_UNAVAILABLE && tokio::time::Instant::now() < deadline {
            continue;
        }
        assert_eq!(status, StatusCode::CREATED, "{body}");
        break;
    }
}

//! A TCP proxy tests put between a client and a server to break their connection on purpose
//! while both processes stay up: [`Proxy::cut`] closes every connection and refuses new ones,
//! [`Proxy::hang`] keeps every connection open and forwards nothing (a half-open connection:
//! neither side hears of a close), until [`Proxy::restore`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Cut,
    Hang,
}

/// A proxy to one upstream `host:port`; stops when dropped.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`: where clients connect instead of the upstream.
    pub url: String,
    mode: watch::Sender<Mode>,
    open: Arc<AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy in front of `upstream` (an `http://host:port` URL or a `host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (mode, watching) = watch::channel(Mode::Forward);
        let open = Arc::new(AtomicUsize::new(0));
        let counted = open.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() == Mode::Cut {
                    continue; // dropped: the client sees the connection closed
                }
                let (upstream, mut mode, open) =
                    (upstream.clone(), watching.clone(), counted.clone());
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    // Accepted while hanging: held open, never forwarded.
                    let _ = mode.wait_for(|m| *m != Mode::Hang).await;
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = mode.wait_for(|m| *m != Mode::Forward) => {}
                        }
                        // Hanging: both ends stay open and hear nothing until the proxy
                        // forwards again or cuts.
                        if *mode.borrow() == Mode::Hang {
                            let _ = mode.wait_for(|m| *m != Mode::Hang).await;
                        }
                        drop((client, server));
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Proxy {
            url,
            mode,
            open,
            accepting,
        }
    }

    /// Closes every connection and refuses new ones; returns once none is open.
    pub async fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.open.load(Ordering::SeqCst) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "proxy connections did not close"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Keeps every connection open and forwards nothing, new ones included: what a peer
    /// that vanished without closing looks like.
    pub fn hang(&self) {
        self.mode.send_replace(Mode::Hang);
    }

    /// Forwards again (connections that hung are closed: their bytes are lost).
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

//! Live output across centers. An agent sends a run's live output to the one center it
//! follows; a follower on any other center gets it relayed, on demand, from every other live
//! center (they find each other through the leader candidates they campaign with). Nothing
//! is relayed unless someone follows a run through a center its agent does not report to.

use std::time::Duration;

use cloudtask_shared::coord::Sessions;
use tokio::sync::mpsc;

/// What a center campaigns with: its advertised URL behind this prefix.
const PREFIX: &str = "center@";

/// The other centers, and how to reach them.
#[derive(Clone)]
pub struct Peers {
    sessions: Sessions,
    me: String,
    http: reqwest::Client,
}

impl Peers {
    pub fn new(
        sessions: Sessions,
        advertise: &reqwest::Url,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Peers> {
        let http = cloudtask_shared::tls::client_builder(ca_file)?
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .user_agent(concat!("cloudtask-center/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Peers {
            sessions,
            me: format!("{PREFIX}{}", advertise.as_str().trim_end_matches('/')),
            http,
        })
    }

    /// What this center campaigns with (and names itself by as the leader).
    pub fn candidate(&self) -> &str {
        &self.me
    }

    /// The base URLs of the other live centers; none when the coordination engine cannot be
    /// asked (the follower then sees this center's output and the stored log).
    async fn others(&self) -> Vec<String> {
        match self.sessions.current().candidates().await {
            Ok(all) => all
                .into_iter()
                .filter(|c| *c != self.me)
                .filter_map(|c| c.strip_prefix(PREFIX).map(str::to_string))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the other centers: live output not relayed");
                Vec::new()
            }
        }
    }

    /// The live output of `run` that reaches the other centers, merged into one channel, as
    /// the caller (`bearer`: its credential, which every center sharing the store accepts).
    /// The relays end with the runs' ends on their centers, or when the receiver is dropped.
    pub async fn follow(&self, run: &str, bearer: &str) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(256);
        for base in self.others().await {
            let url = format!("{base}/api/v1/runs/{run}/log?follow=true&relayed=true");
            tracing::debug!(%url, me = %self.me, "relaying live output");
            let req = self.http.get(url).bearer_auth(bearer);
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::select! {
                    r = relay(req, &tx) => if let Err(e) = r {
                        tracing::warn!(peer = %base, error = %e, "live output of a run not relayed from another center");
                    },
                    () = tx.closed() => {}
                }
            });
        }
        rx
    }
}

/// Passes one center's relayed stream on, chunk by chunk, as text.
async fn relay(req: reqwest::RequestBuilder, tx: &mpsc::Sender<String>) -> reqwest::Result<()> {
    let mut resp = req.send().await?.error_for_status()?;
    let mut pending = Vec::new();
    while let Some(bytes) = resp.chunk().await? {
        pending.extend_from_slice(&bytes);
        let text = take_text(&mut pending);
        if !text.is_empty() && tx.send(text).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// The text at the front of `buf`, leaving a character cut by the transport for the next
/// chunk (bytes that are no UTF-8 at all are replaced, not kept).
fn take_text(buf: &mut Vec<u8>) -> String {
    let upto = match std::str::from_utf8(buf) {
        Ok(_) => buf.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => {
            let text = String::from_utf8_lossy(buf).into_owned();
            buf.clear();
            return text;
        }
    };
    let rest = buf.split_off(upto);
    let text = String::from_utf8_lossy(buf).into_owned();
    *buf = rest;
    text
}

#[cfg(test)]
mod tests {
    use super::take_text;

    #[test]
    fn a_character_cut_between_chunks_waits_for_its_rest() {
        let bytes = "añb".as_bytes();
        let mut buf = bytes[..2].to_vec();
        assert_eq!(take_text(&mut buf), "a");
        assert_eq!(buf, bytes[1..2]);
        buf.extend_from_slice(&bytes[2..]);
        assert_eq!(take_text(&mut buf), "ñb");
        assert!(buf.is_empty());
        let mut bad = vec![b'x', 0xff, b'y'];
        assert_eq!(take_text(&mut bad), "x\u{fffd}y");
        assert!(bad.is_empty());
    }
}

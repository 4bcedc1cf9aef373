//! Webhooks: a JSON POST signed as the Standard Webhooks specification says
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`), so receivers verify it with that specification's libraries.
//!
//! Destinations are limited by the admin's allow-list (`--webhook-allow`): a task's URL must
//! name a listed host, and the addresses it resolves to are checked again when it is called
//! (by the client's own resolver, so a name that resolves elsewhere later is caught), with
//! loopback, link-local and unspecified addresses refused unless listed by address or by
//! the exact host name. Redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::Sha256;

use super::deliver::Failure;
use crate::store::Message;

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    /// `*`: any host with a public address.
    Any,
    /// `hooks.example.com`: that host (lowercase).
    Host(String),
    /// `*.example.com`: any host under it (stored as `.example.com`).
    Suffix(String),
    /// `10.1.0.0/16`, `127.0.0.1`: addresses in that network.
    Net(IpAddr, u8),
}

/// Where webhooks may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Allowed>);

/// Addresses a center must not be made to call unless the admin names them.
fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_loopback() || a.is_link_local() || a.is_unspecified() || a.is_broadcast()
        }
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => internal(IpAddr::V4(v4)),
            None => {
                a.is_loopback()
                    || a.is_unspecified()
                    || (a.segments()[0] & 0xffc0) == 0xfe80
                    || a.is_multicast()
            }
        },
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl AllowList {
    /// Parses `--webhook-allow` entries; names the one that is wrong.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut out = Vec::new();
        for e in entries {
            let t = e.trim().to_ascii_lowercase();
            let entry = if t == "*" {
                Allowed::Any
            } else if let Some(rest) = t.strip_prefix("*.") {
                if rest.is_empty() || rest.contains('*') {
                    return Err(format!("--webhook-allow {e:?}: expected *.domain"));
                }
                Allowed::Suffix(format!(".{rest}"))
            } else if let Some((addr, bits)) = t.split_once('/') {
                let ip: IpAddr = addr
                    .parse()
                    .map_err(|_| format!("--webhook-allow {e:?}: {addr:?} is not an IP address"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("--webhook-allow {e:?}: prefix length 0..={max}"))?;
                Allowed::Net(ip, bits)
            } else if let Ok(ip) = t.parse::<IpAddr>() {
                Allowed::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
            } else if !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                Allowed::Host(t)
            } else {
                return Err(format!(
                    "--webhook-allow {e:?}: expected a host, *.domain, an address, a CIDR network or *"
                ));
            };
            out.push(entry);
        }
        Ok(AllowList(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a URL's host (a name or an address literal) is a destination at all.
    pub fn permits_host(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.0.iter().any(|a| match a {
            Allowed::Any => true,
            Allowed::Host(h) => *h == host,
            Allowed::Suffix(s) => host.ends_with(s.as_str()),
            Allowed::Net(n, bits) => ip.is_some_and(|ip| in_net(ip, *n, *bits)),
        })
    }

    /// Whether `host`, permitted, may be reached at `ip`: an internal address only when
    /// listed itself, or reached by a host listed by its exact name.
    pub fn permits_addr(&self, host: &str, ip: IpAddr) -> bool {
        if !internal(ip) {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.0.iter().any(|a| match a {
            Allowed::Host(h) => *h == host,
            Allowed::Net(n, bits) => in_net(ip, *n, *bits),
            _ => false,
        })
    }

    /// Checks a webhook URL against the list, naming what is refused.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, String> {
        let u = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let host = u
            .host_str()
            .ok_or_else(|| format!("{url:?} has no host"))?
            .to_string();
        if !self.permits_host(&host) {
            return Err(format!(
                "{host} is not on the center's webhook allow-list (cloudtask-center --webhook-allow)"
            ));
        }
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            && !self.permits_addr(&host, ip)
        {
            return Err(format!(
                "{ip} is a loopback or link-local address: list it itself in --webhook-allow to allow it"
            ));
        }
        Ok(u)
    }
}

/// Resolves webhook hosts and keeps only the addresses the allow-list lets the center call.
struct Guarded(Arc<AllowList>);

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow.permits_addr(&host, a.ip()))
                .collect();
            if kept.is_empty() {
                let text = if found.is_empty() {
                    format!("{host} resolves to no address")
                } else {
                    format!(
                        "{host} resolves only to loopback or link-local addresses, which --webhook-allow does not list"
                    )
                };
                return Err(text.into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// A signing key: `whsec_` and the base64 of its bytes, as Standard Webhooks writes it.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    pub fn parse(text: &str) -> Result<SigningKey, String> {
        let t = text.trim();
        let b64 = t.strip_prefix("whsec_").unwrap_or(t);
        let key = B64
            .decode(b64)
            .map_err(|e| format!("not whsec_ followed by base64: {e}"))?;
        if key.len() < 24 {
            return Err(format!("{} bytes; at least 24 are needed", key.len()));
        }
        Ok(SigningKey(key))
    }

    /// A new random key, as its `whsec_…` text.
    pub fn generate() -> Result<String, getrandom::Error> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k)?;
        Ok(format!("whsec_{}", B64.encode(k)))
    }

    /// Reads the key from `path`, making one there (0600) first if there is none.
    pub fn load_or_create(path: &Path) -> anyhow::Result<SigningKey> {
        use anyhow::Context;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let t = SigningKey::generate()
                    .map_err(|e| anyhow::anyhow!("making a webhook signing key: {e}"))?;
                crate::auth::write_secret(path, &t)?;
                t
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", path.display()));
            }
        };
        SigningKey::parse(&text)
            .map_err(|e| anyhow::anyhow!("webhook signing key {}: {e}", path.display()))
    }

    /// The key every center sharing `store` signs with: the one stored, else this data dir's
    /// `copy` (an earlier version's key), else a new one; then written to `copy` (0600) for
    /// the operator to configure receivers with.
    pub async fn shared(
        store: &crate::store::SharedStore,
        copy: &Path,
    ) -> anyhow::Result<SigningKey> {
        use anyhow::Context;
        let here = match std::fs::read_to_string(copy) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", copy.display())),
        };
        // The copy is only a copy: one that does not read as a key is replaced, not trusted.
        let offered = match here.as_deref().map(|t| (t, SigningKey::parse(t))) {
            Some((t, Ok(_))) => t.to_string(),
            other => {
                if let Some((_, Err(e))) = other {
                    tracing::warn!(file = %copy.display(), error = %e, "this data dir's copy of the webhook signing key is damaged: replaced by the shared key");
                }
                SigningKey::generate()
                    .map_err(|e| anyhow::anyhow!("making a webhook signing key: {e}"))?
            }
        };
        let key = store
            .shared_secret(SHARED_KEY_NAME, &offered)
            .await
            .context("reading the shared webhook signing key")?;
        if here.as_deref() != Some(key.as_str()) {
            if here.as_deref() == Some(offered.as_str()) {
                tracing::warn!(file = %copy.display(), "this data dir's webhook signing key is not the one the centers share: replaced by it");
            }
            crate::auth::write_secret(copy, &key)?;
        }
        SigningKey::parse(&key).map_err(|e| anyhow::anyhow!("the shared webhook signing key: {e}"))
    }

    /// `v1,<base64>`: the signature of `body` sent as message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            // HMAC takes keys of any length.
            return String::new();
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

/// The store's name for the webhook signing key.
const SHARED_KEY_NAME: &str = "webhook_signing_key";

/// Calls webhooks.
#[derive(Clone)]
pub struct Webhooks {
    client: reqwest::Client,
    key: SigningKey,
    allow: Arc<AllowList>,
}

impl Webhooks {
    pub fn new(
        key: SigningKey,
        allow: Arc<AllowList>,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Webhooks> {
        let client = cloudtask_shared::tls::client_builder(ca_file)?
            .dns_resolver(Guarded(allow.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("cloudtask-center/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhooks { client, key, allow })
    }

    pub async fn send(&self, m: &Message) -> Result<(), Failure> {
        let url = self.allow.check_url(&m.to).map_err(Failure::permanent)?;
        let ts = jiff::Timestamp::now().as_second();
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &m.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", self.key.sign(&m.id, ts, &m.body))
            .body(m.body.clone())
            .send()
            .await
            .map_err(|e| {
                Failure::temporary(format!(
                    "webhook {}: {}",
                    m.to,
                    cloudtask_shared::tls::with_causes(&e)
                ))
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = format!("webhook {} answered {status}", m.to);
        let retry = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
        Err(if retry {
            Failure::temporary(text)
        } else {
            Failure::permanent(text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn centers_share_one_key_and_a_damaged_copy_is_replaced_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store: crate::store::SharedStore = std::sync::Arc::new(
            crate::store::sql::sqlite::open(&dir.path().join("db"))
                .await
                .unwrap(),
        );
        let (a, b) = (dir.path().join("a.secret"), dir.path().join("b.secret"));
        std::fs::write(&b, "whsec_not-base64!").unwrap();
        let ka = SigningKey::shared(&store, &a).await.unwrap();
        let kb = SigningKey::shared(&store, &b).await.unwrap();
        assert_eq!(ka.0, kb.0, "both centers sign alike");
        let copy = std::fs::read_to_string(&b).unwrap();
        assert_eq!(copy.trim(), std::fs::read_to_string(&a).unwrap().trim());
        assert!(SigningKey::parse(&copy).is_ok(), "{copy}");
    }

    fn list(e: &[&str]) -> AllowList {
        AllowList::parse(&e.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_allow_list_admits_listed_hosts_and_internal_addresses_only_when_named() {
        let l = list(&["hooks.example.com", "*.corp.example", "10.0.0.0/8"]);
        assert!(l.permits_host("hooks.example.com"));
        assert!(l.permits_host("Hooks.Example.com"));
        assert!(l.permits_host("a.corp.example"));
        assert!(!l.permits_host("corp.example.evil"));
        assert!(l.permits_host("10.2.3.4"));
        assert!(!l.permits_host("11.2.3.4"));
        // A wildcard never reaches loopback or link-local; a host named exactly may.
        let any = list(&["*"]);
        assert!(any.permits_host("anything.example"));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let meta: IpAddr = "169.254.169.254".parse().unwrap();
        assert!(!any.permits_addr("x.example", lo));
        assert!(!any.permits_addr("x.example", meta));
        assert!(any.permits_addr("x.example", "93.184.216.34".parse().unwrap()));
        assert!(!any.permits_addr("x", "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!any.permits_addr("x", "fe80::1".parse().unwrap()));
        assert!(list(&["localhost"]).permits_addr("localhost", lo));
        assert!(list(&["127.0.0.1"]).permits_addr("127.0.0.1", lo));
        assert!(any.check_url("http://127.0.0.1:9/x").is_err());
        assert!(any.check_url("https://hooks.example/x").is_ok());
        assert!(list(&[]).check_url("https://hooks.example/x").is_err());
        for bad in ["*.", "10.0.0.0/33", "a b", "x/8"] {
            assert!(AllowList::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's published example.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}

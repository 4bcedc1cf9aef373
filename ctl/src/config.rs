//! Contexts: named (server, token, CA file) sets in the platform config dir
//! (`~/.config/cloudtask/config.toml` on Linux), written with mode 0600. Flags override
//! `CLOUDTASK_SERVER` / `CLOUDTASK_TOKEN` / `CLOUDTASK_CONTEXT` / `CLOUDTASK_CA_FILE`, which override the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::{Exit, Failure, Result};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7878";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The context used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The console hides destructive actions in a read-only context.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    /// The CA the center's certificate must chain to (else the system's roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// Where the config file lives.
pub fn path() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "cloudtask")
        .map(|d| d.config_dir().join("config.toml"))
        .ok_or_else(|| {
            Failure::new(
                Exit::Failure,
                "no home directory for the config file: use --server and --token",
            )
        })
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                Failure::new(Exit::Usage, format!("config file {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(Failure::new(
                Exit::Failure,
                format!("reading {}: {e}", path.display()),
            )),
        }
    }

    /// Writes atomically, readable by the owner only (it holds tokens).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| Failure::new(Exit::Failure, format!("encoding the config: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension("toml.tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// What a command talks to, after flags, environment and the config file.
#[derive(Debug, Clone)]
pub struct Target {
    pub server: String,
    pub token: Option<String>,
    /// The context is read-only: the console hides destructive actions.
    pub readonly: bool,
    /// The context it came from, if any.
    pub context: Option<String>,
    /// The CA the center's certificate must chain to; none: the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// Resolves the target: explicit values (flags or env, as clap read them) win over the
/// selected context (`context` flag/env, else the file's current one).
pub fn resolve(
    server: Option<String>,
    token: Option<String>,
    context: Option<String>,
    ca_file: Option<PathBuf>,
) -> Result<Target> {
    let file = ConfigFile::load(&path()?)?;
    let name = context.or(file.current.clone());
    let ctx = match &name {
        Some(n) => Some(file.contexts.get(n).cloned().ok_or_else(|| {
            Failure::new(
                Exit::NotFound,
                format!(
                    "no context named {n:?} (see `cloudtaskctl context ls`; `cloudtaskctl login` creates one)"
                ),
            )
        })?),
        None => None,
    };
    let ctx = ctx.unwrap_or_default();
    Ok(Target {
        server: server
            .or_else(|| (!ctx.server.is_empty()).then(|| ctx.server.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_string()),
        token: token.or(ctx.token),
        readonly: ctx.readonly,
        context: name,
        ca_file: ca_file.or(ctx.ca_file),
    })
}

/// A context name from a server URL: its host (and port).
pub fn context_name_for(server: &str) -> String {
    // Several centers (`a,b`): named after the first.
    let server = server.split(',').next().unwrap_or(server).trim();
    let rest = server.split("://").nth(1).unwrap_or(server);
    let host = rest.split('/').next().unwrap_or(rest);
    host.replace(':', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_come_from_the_host() {
        assert_eq!(context_name_for("http://127.0.0.1:7878"), "127.0.0.1-7878");
        assert_eq!(
            context_name_for("https://a.example:7878,https://b.example:7878"),
            "a.example-7878"
        );
        assert_eq!(
            context_name_for("https://ct.example.com/"),
            "ct.example.com"
        );
    }

    #[test]
    fn config_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/config.toml");
        let mut f = ConfigFile {
            current: Some("prod".into()),
            ..ConfigFile::default()
        };
        f.contexts.insert(
            "prod".into(),
            Context {
                server: "https://ct".into(),
                token: Some("ct_x".into()),
                readonly: true,
                ca_file: Some("/etc/cloudtask/ca.pem".into()),
            },
        );
        f.save(&p).unwrap();
        let back = ConfigFile::load(&p).unwrap();
        assert_eq!(back.current.as_deref(), Some("prod"));
        assert!(back.contexts["prod"].readonly);
        assert_eq!(
            back.contexts["prod"].ca_file.as_deref(),
            Some(Path::new("/etc/cloudtask/ca.pem"))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

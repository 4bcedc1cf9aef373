//! TLS for every HTTP client in the build (cloudtaskctl, agents, tests): one rustls crypto
//! provider (ring) and one way to say which certificate authorities to trust.
//!
//! rustls panics when two providers are compiled in and none is chosen, and reqwest (built
//! with `rustls-no-provider`) panics when none is installed: [`install_provider`] is called
//! first in every `main`, and [`client_builder`] calls it too, so a client is never built
//! without one.

use std::path::{Path, PathBuf};

/// Why a TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {} is not PEM certificates: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("the CA file {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)", path.display())]
    Empty { path: PathBuf },
}

/// Makes ring the process's rustls provider. Harmless when one is installed already.
pub fn install_provider() {
    // An error means a provider is installed already: ours, since the build has no other.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client builder that verifies servers against `ca_file` alone (PEM, one or more
/// certificates: a private CA), or, without one, against the system's roots.
pub fn client_builder(ca_file: Option<&Path>) -> Result<reqwest::ClientBuilder, TlsError> {
    install_provider();
    let builder = reqwest::Client::builder();
    let Some(path) = ca_file else {
        return Ok(builder);
    };
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| TlsError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    if roots.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(builder.tls_certs_only(roots))
}

/// An error with its causes, outermost first: reqwest's own message ("error sending
/// request") leaves out why, a refused certificate among them.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_that_is_missing_empty_or_not_pem_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = client_builder(Some(&missing)).unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_builder(Some(&empty)).unwrap_err();
        assert!(e.to_string().contains("empty.pem"), "{e}");
        assert!(e.to_string().contains("no certificate"), "{e}");
    }

    #[test]
    fn without_a_ca_file_the_system_roots_are_used() {
        client_builder(None).unwrap().build().unwrap();
    }
}

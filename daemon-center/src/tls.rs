//! HTTPS for the center: the certificate and key come from PEM files, read at start and again
//! on SIGHUP, so a renewed certificate is served without a restart. A reload that fails (a
//! half-written file, a key that does not match) keeps the certificate being served and says
//! why.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Where the certificate chain and its key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert {}: {source}", path.display())]
    Cert {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("--tls-cert {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)", path.display())]
    NoCert { path: PathBuf },
    #[error("--tls-key {}: {source}", path.display())]
    Key {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("--tls-cert {} and --tls-key {} do not go together: {source}", files.cert.display(), files.key.display())]
    Mismatch {
        files: TlsFiles,
        source: rustls::Error,
    },
}

/// The acceptor new connections are handshaken with; replaced whole on reload, so a
/// handshake in progress finishes with the certificate it began with.
#[derive(Clone)]
pub struct Acceptor {
    files: TlsFiles,
    current: Arc<RwLock<TlsAcceptor>>,
}

impl Acceptor {
    /// Reads the files; an error names the one at fault.
    pub fn load(files: TlsFiles) -> Result<Acceptor, TlsError> {
        let acceptor = read(&files)?;
        Ok(Acceptor {
            files,
            current: Arc::new(RwLock::new(acceptor)),
        })
    }

    /// Reads the files again; on error the certificate served so far stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    pub fn current(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

fn read(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |source| TlsError::Cert {
        path: files.cert.clone(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(cert_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_err)?;
    if chain.is_empty() {
        return Err(TlsError::NoCert {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| TlsError::Key {
        path: files.key.clone(),
        source,
    })?;
    // The process's one provider (ring, installed first in main).
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Mismatch {
            files: files.clone(),
            source,
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn bad_files_are_refused_naming_the_file_and_a_failed_reload_keeps_the_old_certificate() {
        cloudtask_shared::tls::install_provider();
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let e = Acceptor::load(files.clone()).err().unwrap();
        assert!(e.to_string().contains("cert.pem"), "{e}");

        let (cert, key) = pair("a.test");
        std::fs::write(&files.cert, "garbage").unwrap();
        std::fs::write(&files.key, &key).unwrap();
        let e = Acceptor::load(files.clone()).err().unwrap();
        assert!(matches!(e, TlsError::NoCert { .. }), "{e}");

        // Another certificate's key.
        let (_, other_key) = pair("b.test");
        std::fs::write(&files.cert, &cert).unwrap();
        std::fs::write(&files.key, &other_key).unwrap();
        let e = Acceptor::load(files.clone()).err().unwrap();
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");

        std::fs::write(&files.key, &key).unwrap();
        let acceptor = Acceptor::load(files.clone()).unwrap();
        let before = Arc::as_ptr(acceptor.current().config());
        std::fs::write(&files.key, "half a key").unwrap();
        let e = acceptor.reload().unwrap_err();
        assert!(e.to_string().contains("key.pem"), "{e}");
        assert_eq!(Arc::as_ptr(acceptor.current().config()), before, "kept");
        std::fs::write(&files.key, &key).unwrap();
        acceptor.reload().unwrap();
        assert_ne!(Arc::as_ptr(acceptor.current().config()), before, "replaced");
    }
}

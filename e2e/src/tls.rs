//! Certificate authorities made in the test: a CA and the server certificates it signs, as
//! PEM files, for TLS round trips against real centers.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A private CA.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// Writes the CA certificate to `path`.
    pub fn write_ca(&self, path: &Path) -> PathBuf {
        std::fs::write(path, &self.pem).unwrap();
        path.to_path_buf()
    }

    /// Signs a server certificate for `names` (host names or IP addresses) and writes it
    /// and its key to `cert` and `key`.
    pub fn issue(&self, names: &[&str], cert: &Path, key: &Path) {
        let server_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).unwrap();
        let signed = params.signed_by(&server_key, &self.issuer).unwrap();
        std::fs::write(cert, signed.pem()).unwrap();
        std::fs::write(key, server_key.serialize_pem()).unwrap();
    }
}

//! E-mail over SMTP (lettre): STARTTLS, implicit TLS or plain, with or without
//! authentication. Each message goes to one address, under its stored id as `Message-ID`,
//! so a message repeated after a failover is recognisably the same one.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::deliver::Failure;
use crate::store::Message;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: for a relay on this host or a trusted network only.
    Plain,
}

impl Security {
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::Plain => 25,
        }
    }
}

/// The center's SMTP settings (`Debug` leaves the password out).
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// User name and password (the password read from its file at start).
    pub credentials: Option<(String, String)>,
    pub from: Mailbox,
    /// Trust only this CA (PEM) for the server's certificate, instead of the system's.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// Why the SMTP settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read the SMTP CA file {}: {source}", path.display())]
    Ca {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("SMTP TLS settings: {0}")]
    Tls(lettre::transport::smtp::Error),
}

/// Sends e-mail through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(s: &SmtpSettings) -> Result<Mailer, SetupError> {
        let tls = || -> Result<TlsParameters, SetupError> {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(path) = &s.ca_file {
                let pem = std::fs::read(path).map_err(|source| SetupError::Ca {
                    path: path.clone(),
                    source,
                })?;
                let cert = Certificate::from_pem(&pem).map_err(SetupError::Tls)?;
                b = b
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(cert);
            }
            b.build().map_err(SetupError::Tls)
        };
        let tls = match s.security {
            Security::Starttls => Tls::Required(tls()?),
            Security::Tls => Tls::Wrapper(tls()?),
            Security::Plain => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
            .port(s.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(20)));
        if let Some((user, password)) = &s.credentials {
            b = b.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: b.build(),
            from: s.from.clone(),
        })
    }

    /// Sends one message to its one recipient.
    pub async fn send(&self, m: &Message) -> Result<(), Failure> {
        let to: Mailbox =
            m.to.parse()
                .map_err(|e| Failure::permanent(format!("recipient {:?}: {e}", m.to)))?;
        let mail = lettre::Message::builder()
            .message_id(Some(format!("<{}@cloudtask>", m.id)))
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone())
            .map_err(|e| Failure::permanent(format!("cannot build the message: {e}")))?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = format!("SMTP: {}", cloudtask_shared::tls::with_causes(&e));
                if e.is_permanent() {
                    Err(Failure::permanent(text))
                } else {
                    Err(Failure::temporary(text))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_print_the_password() {
        let s = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::Starttls,
            credentials: Some(("ct".into(), "hunter2-secret".into())),
            from: "CloudTask <ct@example.com>".parse().unwrap(),
            ca_file: None,
        };
        let shown = format!("{s:?}");
        assert!(
            shown.contains("smtp.example.com") && shown.contains("\"ct\""),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

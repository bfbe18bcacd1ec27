//! TLS for the uplink (rustls with the ring provider): the broker is checked
//! against a CA file, or the system's roots when none is given, and the
//! gateway can present an X.509 client certificate.
//!
//! The rustls configuration is built on every connection attempt, so that a
//! renewed certificate is picked up without a restart, and a file that cannot
//! be read is an error the uplink reports and retries, never a crash.

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to secure the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file with the CA certificates that may sign the broker's
    /// certificate; the system's roots when `None`.
    pub ca_file: Option<PathBuf>,
    /// The gateway's client certificate, for brokers that authenticate
    /// devices by X.509.
    pub client_cert: Option<ClientCert>,
}

/// A client certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("TLS {what} `{path}`: {reason}")]
    File {
        /// Which file it is (CA file, client certificate, client key).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the combination (for example, a key that does not
    /// match the certificate).
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "it holds no PEM certificate"));
    }
    Ok(certs)
}

fn roots(settings: &TlsSettings) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match &settings.ca_file {
        Some(path) => {
            for cert in certificates("CA file", path)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error("CA file", path, e))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsError::Config(
                    "no CA file given and no system root certificates found".to_string(),
                ));
            }
        }
    }
    Ok(roots)
}

/// Builds the rustls client configuration for `settings`.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(settings)?);
    let config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let chain = certificates("client certificate", &client.cert_file)?;
            let key = PrivateKeyDer::from_pem_file(&client.key_file)
                .map_err(|e| file_error("client key", &client.key_file, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Config(e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let settings = TlsSettings {
            ca_file: Some(empty.clone()),
            client_cert: None,
        };
        let e = client_config(&settings).unwrap_err().to_string();
        assert!(e.contains("CA file") && e.contains("empty.pem"), "{e}");
        let settings = TlsSettings {
            ca_file: Some(dir.path().join("absent.pem")),
            client_cert: None,
        };
        let e = client_config(&settings).unwrap_err().to_string();
        assert!(e.contains("absent.pem"), "{e}");
    }
}

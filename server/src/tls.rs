//! TLS with rustls (ring provider, no OpenSSL): the certificate from PEM files (reloadable) or, for development, a
//! self-signed certificate for `localhost`, `127.0.0.1` and `::1` made at start with rcgen.
//!
//! ALPN offers `h2` then `http/1.1`; [`crate::conn`] serves each connection with the protocol the client picked.
//!
//! ```
//! use typed_eventsource_server::tls::{self_signed, Tls};
//!
//! let dev = self_signed().unwrap();
//! let tls = Tls::from_pem(dev.cert_pem.as_bytes(), dev.key_pem.as_bytes()).unwrap();
//! assert_eq!(tls.fingerprint(), dev.fingerprint);
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The names the development certificate is valid for.
pub const DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files: the certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1). Re-read by
    /// [`Tls::reload`].
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// A self-signed certificate for [`DEV_NAMES`], generated at start (`--dev-tls`).
    SelfSigned,
}

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A file is not valid PEM of the expected kind.
    #[error("{what} in {path}: {source}")]
    Pem {
        /// What was looked for.
        what: &'static str,
        /// The file (`<memory>` for in-memory PEM).
        path: PathBuf,
        /// The parse error.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    /// The key is unusable or does not belong to the certificate.
    #[error("certificate or key rejected: {0}")]
    Rejected(#[from] rustls::Error),
    /// The development certificate could not be generated.
    #[error("cannot generate the development certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A generated self-signed certificate (PEM) and its SHA-256 fingerprint.
#[derive(Clone)]
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// SHA-256 of the certificate's DER, `AA:BB:...`.
    pub fingerprint: String,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

/// A fresh self-signed certificate (ECDSA P-256) for [`DEV_NAMES`].
pub fn self_signed() -> Result<SelfSigned, TlsError> {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(DEV_NAMES.map(str::to_owned).to_vec())?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: signing_key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        fingerprint: fingerprint(cert.der()),
    })
}

/// SHA-256 of `der`, as uppercase hex pairs separated by colons (what browsers show).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ::ring::digest::digest(&::ring::digest::SHA256, der);
    let mut out = String::with_capacity(95);
    for (i, b) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// Hands rustls the current certificate; [`Tls::reload`] swaps it for new handshakes.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Resolver {
    fn get(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The server's TLS setup: a rustls configuration with ALPN `h2` + `http/1.1`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
    resolver: Arc<Resolver>,
    provider: Arc<CryptoProvider>,
    source: TlsSource,
}

impl Tls {
    /// Loads (or, for [`TlsSource::SelfSigned`], generates) the certificate.
    pub fn new(source: TlsSource) -> Result<Self, TlsError> {
        match &source {
            TlsSource::Files { cert, key } => {
                let cert_pem = read(cert)?;
                let key_pem = read(key)?;
                Self::build(&cert_pem, cert, &key_pem, key, source.clone())
            }
            TlsSource::SelfSigned => {
                let dev = self_signed()?;
                let mem = Path::new("<generated>");
                Self::build(dev.cert_pem.as_bytes(), mem, dev.key_pem.as_bytes(), mem, source)
            }
        }
    }

    /// From PEM in memory (tests, embedding). [`Tls::reload`] then keeps this certificate.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let mem = Path::new("<memory>");
        Self::build(cert_pem, mem, key_pem, mem, TlsSource::SelfSigned)
    }

    fn build(cert_pem: &[u8], cert: &Path, key_pem: &[u8], key: &Path, source: TlsSource) -> Result<Self, TlsError> {
        let provider = Arc::new(ring::default_provider());
        let certified = certified_key(&provider, cert_pem, cert, key_pem, key)?;
        let resolver = Arc::new(Resolver { current: RwLock::new(Arc::new(certified)) });
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls { config: Arc::new(config), resolver, provider, source })
    }

    /// Re-reads the certificate files (SIGHUP in the binary); new handshakes use the new certificate, open
    /// connections keep theirs. On error the current certificate stays. Generated certificates are kept as they are.
    pub fn reload(&self) -> Result<(), TlsError> {
        let TlsSource::Files { cert, key } = &self.source else {
            return Ok(());
        };
        let certified = certified_key(&self.provider, &read(cert)?, cert, &read(key)?, key)?;
        *self.resolver.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }

    /// SHA-256 fingerprint of the current leaf certificate (`AA:BB:...`).
    pub fn fingerprint(&self) -> String {
        self.resolver.get().cert.first().map(|c| fingerprint(c)).unwrap_or_default()
    }

    /// Where the certificate comes from.
    pub fn source(&self) -> &TlsSource {
        &self.source
    }

    /// The acceptor for one connection.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

fn certified_key(
    provider: &CryptoProvider,
    cert_pem: &[u8],
    cert_path: &Path,
    key_pem: &[u8],
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what: "certificate", path: cert_path.to_owned(), source })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_path.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| TlsError::Pem {
        what: "private key",
        path: key_path.to_owned(),
        source,
    })?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rejects_a_key_of_another_certificate_and_garbage() {
        let a = self_signed().unwrap();
        let b = self_signed().unwrap();
        assert!(matches!(Tls::from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes()), Err(TlsError::Rejected(_))));
        assert!(matches!(Tls::from_pem(b"not pem", a.key_pem.as_bytes()), Err(TlsError::NoCertificate(_))));
        assert!(Tls::from_pem(a.cert_pem.as_bytes(), b"").is_err());
        assert_eq!(a.fingerprint.len(), 32 * 3 - 1);
        assert_ne!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn reload_swaps_the_certificate_and_keeps_it_on_error() {
        let dir = std::env::temp_dir().join(format!("sse-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let a = self_signed().unwrap();
        std::fs::write(&cert, &a.cert_pem).unwrap();
        std::fs::write(&key, &a.key_pem).unwrap();
        let tls = Tls::new(TlsSource::Files { cert: cert.clone(), key: key.clone() }).unwrap();
        assert_eq!(tls.fingerprint(), a.fingerprint);
        let b = self_signed().unwrap();
        std::fs::write(&cert, &b.cert_pem).unwrap();
        // The key does not match yet: refused, the old pair stays.
        assert!(tls.reload().is_err());
        assert_eq!(tls.fingerprint(), a.fingerprint);
        std::fs::write(&key, &b.key_pem).unwrap();
        tls.reload().unwrap();
        assert_eq!(tls.fingerprint(), b.fingerprint);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

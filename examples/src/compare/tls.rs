//! The certificate `compare`'s TLS scenarios use: self-signed for `localhost`, made with
//! `rcgen` when the run starts (no key ships in the repository).

use std::io;
use std::path::{Path, PathBuf};

/// The name the certificate is for, and the load generator asks for.
pub const TLS_NAME: &str = "localhost";

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate (self-signed: the load generator trusts it as its CA).
    pub cert: PathBuf,
    /// Its private key (PKCS#8).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Make a new self-signed certificate for [`TLS_NAME`] and `127.0.0.1` in `dir`
    /// (created if needed): `cert.pem` and `key.pem`.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("tls-doc-{}", std::process::id()));
    /// let files = examples::compare::tls::TlsFiles::make(&dir)?;
    /// assert!(std::fs::read_to_string(&files.cert)?.starts_with("-----BEGIN CERTIFICATE-----"));
    /// std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make(dir: &Path) -> io::Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let names = vec![TLS_NAME.to_owned(), "127.0.0.1".to_owned()];
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| io::Error::other(format!("cannot make a certificate: {e}")))?;
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, made.cert.pem())?;
        std::fs::write(&files.key, made.key_pair.serialize_pem())?;
        Ok(files)
    }
}

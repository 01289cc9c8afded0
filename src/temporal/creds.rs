//! Credentials of a Temporal connection: TLS material and an API key, read from the Secrets a
//! CuratorWorker names. They never leave this type except to set up a connection: `Debug`
//! redacts them, and keys of pools and caches hold only their digest.

use sha2::{Digest, Sha256};

/// Credentials for a connection, read from the Secrets a CuratorWorker references.
///
/// `Debug` never prints the material.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// PEM client certificate.
    pub client_cert: Option<Vec<u8>>,
    /// PEM client key.
    pub client_key: Option<Vec<u8>>,
    /// PEM CA bundle for the server.
    pub ca_cert: Option<Vec<u8>>,
    /// Name to verify the server certificate against.
    pub server_name: Option<String>,
    /// Whether TLS is used at all.
    pub tls: bool,
    /// API key.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("tls", &self.tls)
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "client_key",
                &self.client_key.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_cert", &self.ca_cert.as_ref().map(|_| "<redacted>"))
            .field("server_name", &self.server_name)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// A digest of the credentials, so that keys (of the pool, of caches) never hold secret
    /// material.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [
            self.client_cert.as_deref(),
            self.client_key.as_deref(),
            self.ca_cert.as_deref(),
            self.server_name.as_deref().map(str::as_bytes),
            self.api_key.as_deref().map(str::as_bytes),
        ] {
            match part {
                Some(p) => {
                    h.update([1]);
                    h.update((p.len() as u64).to_be_bytes());
                    h.update(p);
                }
                None => h.update([0]),
            }
        }
        h.update([u8::from(self.tls)]);
        h.finalize().into()
    }

    /// The digest as a short hex string, for cache keys.
    pub fn tag(&self) -> String {
        self.digest()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

//! The connection flags of `sync` (the `temporal` CLI's names) → [`Credentials`]. Key material
//! and the API key are read here and never leave except inside `Credentials`, whose `Debug`
//! redacts them; error messages name the flag and the file, never the content.

use std::path::Path;

use crate::{config::ConnectionArgs, temporal::pool::Credentials};

/// Why the connection flags cannot be used (bad input: exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A file named by a flag could not be read.
    #[error("{flag}: cannot read {path}: {problem}")]
    Unreadable {
        /// The flag.
        flag: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        problem: String,
    },
    /// Two flags that exclude each other were both given.
    #[error("{0} and {1} are both set; give one")]
    Both(&'static str, &'static str),
    /// A client certificate without its key, or the other way round.
    #[error(
        "mTLS needs both a client certificate and its key (--tls-cert-path and --tls-key-path)"
    )]
    HalfPair,
    /// Material that is not PEM.
    #[error("{0} is not PEM (no -----BEGIN line)")]
    NotPem(&'static str),
    /// An empty API key.
    #[error("--api-key / TEMPORAL_API_KEY is empty")]
    EmptyApiKey,
}

fn material(
    path: Option<&Path>,
    data: Option<&str>,
    flags: (&'static str, &'static str),
) -> Result<Option<Vec<u8>>, CredentialsError> {
    let bytes = match (path, data) {
        (Some(_), Some(_)) => return Err(CredentialsError::Both(flags.0, flags.1)),
        (Some(p), None) => std::fs::read(p).map_err(|e| CredentialsError::Unreadable {
            flag: flags.0,
            path: p.display().to_string(),
            problem: e.kind().to_string(),
        })?,
        (None, Some(d)) => d.as_bytes().to_vec(),
        (None, None) => return Ok(None),
    };
    if !bytes.windows(10).any(|w| w == b"-----BEGIN") {
        return Err(CredentialsError::NotPem(flags.0));
    }
    Ok(Some(bytes))
}

/// Builds the credentials the flags describe. TLS is on when `--tls` is given or any TLS flag
/// or an API key is (as with the `temporal` CLI).
pub fn from_args(args: &ConnectionArgs) -> Result<Credentials, CredentialsError> {
    let client_cert = material(
        args.tls_cert_path.as_deref(),
        args.tls_cert_data.as_deref(),
        ("--tls-cert-path", "--tls-cert-data"),
    )?;
    let client_key = material(
        args.tls_key_path.as_deref(),
        args.tls_key_data.as_deref(),
        ("--tls-key-path", "--tls-key-data"),
    )?;
    if client_cert.is_some() != client_key.is_some() {
        return Err(CredentialsError::HalfPair);
    }
    let ca_cert = material(
        args.tls_ca_path.as_deref(),
        args.tls_ca_data.as_deref(),
        ("--tls-ca-path", "--tls-ca-data"),
    )?;
    let api_key = match args.api_key.as_deref().map(str::trim) {
        Some("") => return Err(CredentialsError::EmptyApiKey),
        other => other.map(str::to_owned),
    };
    let server_name = args.tls_server_name.clone().filter(|s| !s.is_empty());
    let tls = args.tls
        || client_cert.is_some()
        || ca_cert.is_some()
        || server_name.is_some()
        || api_key.is_some();
    Ok(Credentials {
        client_cert,
        client_key,
        ca_cert,
        server_name,
        tls,
        api_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn plain_by_default_and_tls_implied_by_any_tls_setting() {
        let c = from_args(&ConnectionArgs::default()).expect("ok");
        assert_eq!(c, Credentials::default());
        let key = ConnectionArgs {
            api_key: Some(" secret-key \n".into()),
            ..Default::default()
        };
        let c = from_args(&key).expect("ok");
        assert!(c.tls);
        assert_eq!(c.api_key.as_deref(), Some("secret-key"));
        assert!(!format!("{c:?}").contains("secret-key"));
        assert!(!format!("{key:?}").contains("secret-key"));
        let name = ConnectionArgs {
            tls_server_name: Some("temporal.example".into()),
            ..Default::default()
        };
        assert!(from_args(&name).expect("ok").tls);
    }

    #[test]
    fn files_and_inline_data_are_read_and_checked() {
        let dir = tempfile::tempdir().expect("dir");
        let cert = dir.path().join("client.pem");
        std::fs::write(&cert, PEM).expect("write");
        let args = ConnectionArgs {
            tls_cert_path: Some(cert.clone()),
            tls_key_data: Some(PEM.replace("CERTIFICATE", "PRIVATE KEY")),
            tls_ca_data: Some(PEM.into()),
            ..Default::default()
        };
        let c = from_args(&args).expect("ok");
        assert!(c.tls && c.client_cert.is_some() && c.client_key.is_some());
        assert!(!format!("{args:?}").contains("PRIVATE KEY"));
        let half = ConnectionArgs {
            tls_cert_path: Some(cert.clone()),
            ..Default::default()
        };
        assert_eq!(from_args(&half), Err(CredentialsError::HalfPair));
        let both = ConnectionArgs {
            tls_ca_path: Some(cert.clone()),
            tls_ca_data: Some(PEM.into()),
            ..Default::default()
        };
        assert!(matches!(from_args(&both), Err(CredentialsError::Both(..))));
        let missing = ConnectionArgs {
            tls_ca_path: Some(dir.path().join("nope.pem")),
            ..Default::default()
        };
        let e = from_args(&missing).expect_err("missing");
        assert!(e.to_string().contains("--tls-ca-path") && e.to_string().contains("nope.pem"));
        let not_pem = ConnectionArgs {
            tls_ca_data: Some("hunter2".into()),
            ..Default::default()
        };
        let e = from_args(&not_pem).expect_err("not pem");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let empty = ConnectionArgs {
            api_key: Some("  ".into()),
            ..Default::default()
        };
        assert_eq!(from_args(&empty), Err(CredentialsError::EmptyApiKey));
    }
}

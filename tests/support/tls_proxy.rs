//! A Temporal frontend behind TLS for tests: `temporal server start-dev` serves plain gRPC only,
//! so a proxy of the test's own terminates TLS (optionally requiring a client certificate, and
//! checking an API key in the `authorization` header) and forwards HTTP/2 to the dev server.
//! Certificates come from the `openssl` CLI, in a temporary directory.
#![allow(dead_code)]

use std::{
    convert::Infallible,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, combinators::BoxBody};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        crypto::ring,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::WebPkiClientVerifier,
    },
};

/// A CA, a server certificate for `localhost`/`127.0.0.1` and a client certificate.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// Creates them with `openssl`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            d,
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=curator-test-ca",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        for (name, ext) in [
            (
                "server",
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
            ),
            (
                "client",
                "subjectAltName=DNS:curator-sync\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
            ),
        ] {
            std::fs::write(d.join(format!("{name}.ext")), ext).expect("ext");
            let (key, csr, crt, extf) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
                format!("{name}.ext"),
            );
            openssl(
                d,
                &[
                    &["req"],
                    &ec[..],
                    &[
                        "-keyout",
                        &key,
                        "-out",
                        &csr,
                        "-subj",
                        &format!("/CN={name}"),
                    ],
                ]
                .concat(),
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &crt,
                    "-days",
                    "2",
                    "-extfile",
                    &extf,
                ],
            );
        }
        Self { dir }
    }

    /// A file of the set: `ca.crt`, `server.crt`, `server.key`, `client.crt`, `client.key`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// `127.0.0.1:PORT`.
    pub address: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Serves TLS on a free port in front of the plain-gRPC `upstream`.
pub async fn start(
    upstream: &str,
    certs: &Certs,
    client_cert: bool,
    api_key: Option<&str>,
) -> Proxy {
    let provider = Arc::new(ring::default_provider());
    let verifier = if client_cert {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(certs.path("ca.crt")).expect("ca"))
            .expect("root");
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .expect("verifier")
    } else {
        WebPkiClientVerifier::no_client_auth()
    };
    let chain = vec![CertificateDer::from_pem_file(certs.path("server.crt")).expect("cert")];
    let key = PrivateKeyDer::from_pem_file(certs.path("server.key")).expect("key");
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let upstream = upstream.to_owned();
    let api_key = api_key.map(|k| format!("Bearer {k}"));
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, client, upstream, api_key) = (
                acceptor.clone(),
                client.clone(),
                upstream.clone(),
                api_key.clone(),
            );
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(move |req: Request<Incoming>| {
                    let (client, upstream, api_key) =
                        (client.clone(), upstream.clone(), api_key.clone());
                    async move {
                        Ok::<_, Infallible>(
                            forward(req, &client, &upstream, api_key.as_deref()).await,
                        )
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Proxy { address, task }
}

async fn forward(
    req: Request<Incoming>,
    client: &Client<HttpConnector, Incoming>,
    upstream: &str,
    api_key: Option<&str>,
) -> Response<Body> {
    if let Some(want) = api_key {
        let got = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if got != Some(want) {
            // A gRPC "trailers-only" answer: Unauthenticated.
            return Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "16")
                .header("grpc-message", "invalid API key")
                .body(empty())
                .expect("response");
        }
    }
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    parts.uri = format!("http://{upstream}{path}").parse().expect("uri");
    match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => resp.map(|b| b.boxed()),
        Err(_) => Response::builder()
            .status(502)
            .body(empty())
            .expect("response"),
    }
}

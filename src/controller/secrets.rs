//! Reads the Temporal credentials a CuratorWorker references. Values never leave this module
//! except inside [`Credentials`], whose `Debug` redacts them.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use super::error::Error;
use crate::{
    crd::curatorworker::{SecretKeyRef, TemporalConnection},
    temporal::pool::Credentials,
};

async fn get_secret(api: &Api<Secret>, name: &str) -> Result<Secret, Error> {
    api.get_opt(name).await?.ok_or_else(|| Error::Secret {
        name: name.to_owned(),
        problem: "not found".into(),
    })
}

fn key(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
}

/// Reads the value of a Secret key (a token) in `namespace`.
pub async fn api_token(
    client: &Client,
    namespace: &str,
    r: &SecretKeyRef,
) -> Result<String, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let s = get_secret(&api, &r.name).await?;
    let value = key(&s, &r.key).ok_or_else(|| Error::Secret {
        name: r.name.clone(),
        problem: format!("has no key {:?}", r.key),
    })?;
    let text = String::from_utf8(value).map_err(|_| Error::Secret {
        name: r.name.clone(),
        problem: format!("key {:?} is not UTF-8", r.key),
    })?;
    Ok(text.trim().to_owned())
}

/// Loads the TLS material and API key of `temporal` from Secrets in `namespace`.
pub async fn credentials(
    client: &Client,
    namespace: &str,
    temporal: &TemporalConnection,
) -> Result<Credentials, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut creds = Credentials::default();
    if let Some(tls) = &temporal.tls {
        let s = get_secret(&api, &tls.secret_name).await?;
        creds.tls = true;
        creds.client_cert = key(&s, "tls.crt");
        creds.client_key = key(&s, "tls.key");
        creds.ca_cert = key(&s, "ca.crt");
        creds.server_name = tls.server_name.clone();
        if creds.client_cert.is_some() != creds.client_key.is_some() {
            return Err(Error::Secret {
                name: tls.secret_name.clone(),
                problem: "has only one of tls.crt and tls.key".into(),
            });
        }
    }
    if let Some(r) = &temporal.api_key_secret_ref {
        creds.api_key = Some(api_token(client, namespace, r).await?);
    }
    Ok(creds)
}

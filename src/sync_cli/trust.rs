//! Where `sync` may send credentials. The Temporal API key or client certificate, and
//! buun-curator's token, go only to endpoints the command line or the environment names
//! (`--address`/`TEMPORAL_ADDRESS`, `--curator-api-url`/`BUUN_CURATOR_API_URL`), never to one
//! that only the files name, unless `--trust-file-endpoints` says so: a pull request that adds
//! a CuratorWorker file must not route CI's secrets to a server of its choosing. `--dry-run`
//! is no exception (it lists schedules and feeds with the same credentials).

use std::collections::{BTreeSet, HashMap};

use super::inputs::Prepared;
use crate::{
    crd::api_url::{UrlAllowList, UrlPattern},
    curator_api::http::{EndpointOptions, Endpoints, HttpFeedApi},
};

/// What the command line and the environment give.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given<'a> {
    /// The Temporal secret `sync` holds, named as the user set it (`TEMPORAL_API_KEY`, the
    /// client certificate), if any.
    pub temporal_secret: Option<&'static str>,
    /// `--address` / `TEMPORAL_ADDRESS`.
    pub address: Option<&'a str>,
    /// Whether `INTERNAL_API_TOKEN` is set.
    pub token: bool,
    /// `--curator-api-url` / `BUUN_CURATOR_API_URL`.
    pub api_url: Option<&'a str>,
    /// `--trust-file-endpoints`.
    pub trust_files: bool,
}

/// PURE: one message per endpoint that only the files name and that would receive a secret.
pub fn refusals(prepared: &Prepared, given: &Given<'_>) -> Vec<String> {
    if given.trust_files {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let (Some(secret), None) = (given.temporal_secret, given.address) {
        let addresses: BTreeSet<&str> =
            prepared.locations.keys().map(|(a, _)| a.as_str()).collect();
        out.extend(addresses.into_iter().map(|a| {
            format!(
                "Temporal address {a} comes from the files, and {secret} is sent only to an address given by --address / TEMPORAL_ADDRESS (or pass --trust-file-endpoints)"
            )
        }));
    }
    if given.token && given.api_url.is_none() {
        let urls: BTreeSet<&str> = prepared.pending.iter().map(|p| p.api.as_str()).collect();
        out.extend(urls.into_iter().map(|u| {
            format!(
                "buun-curator URL {u} comes from the files, and INTERNAL_API_TOKEN is sent only to a URL given by --curator-api-url / BUUN_CURATOR_API_URL (or pass --trust-file-endpoints)"
            )
        }));
    }
    out
}

/// The client for buun-curator's APIs: a URL given on the command line is trusted as given
/// (also over `http://`); otherwise any `https://` URL and loopback.
pub fn endpoints(api_url: Option<&str>, timeout: std::time::Duration) -> Result<Endpoints, String> {
    let mut options = EndpointOptions::new(timeout);
    if let Some(u) = api_url {
        let given = UrlPattern::parse(u).map_err(|e| format!("--curator-api-url: {e}"))?;
        options.allowed = UrlAllowList::new(vec![given]);
    }
    Endpoints::new(options).map_err(|e| e.to_string())
}

/// One client per buun-curator the pending feeds name, when a token was given; a URL that
/// may not have the token is an input error.
pub fn feed_clients(
    prepared: &Prepared,
    token: Option<&str>,
    endpoints: &Endpoints,
) -> Result<HashMap<String, HttpFeedApi>, Vec<String>> {
    let mut apis = HashMap::new();
    let mut errors = Vec::new();
    let Some(token) = token else {
        return Ok(apis);
    };
    for url in prepared.pending.iter().map(|p| &p.api) {
        if apis.contains_key(url) {
            continue;
        }
        match endpoints.api(url, token) {
            Ok(c) => {
                apis.insert(url.clone(), c);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(apis)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::{Given, refusals};
    use crate::sync_cli::inputs::Prepared;

    fn prepared() -> Prepared {
        let mut p = Prepared::default();
        p.locations.insert(
            ("evil.example:7233".into(), "default".into()),
            Default::default(),
        );
        p
    }

    #[test]
    fn secrets_go_only_where_the_command_line_says_unless_files_are_trusted() {
        let p = prepared();
        let key = Given {
            temporal_secret: Some("TEMPORAL_API_KEY"),
            ..Given::default()
        };
        let r = refusals(&p, &key);
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("evil.example:7233") && r[0].contains("--trust-file-endpoints"));
        let given = Given {
            address: Some("temporal.example:7233"),
            ..key
        };
        assert!(
            refusals(&p, &given).is_empty(),
            "the address is the command line's"
        );
        let trusted = Given {
            trust_files: true,
            ..key
        };
        assert!(refusals(&p, &trusted).is_empty());
        assert!(
            refusals(&p, &Given::default()).is_empty(),
            "no secret: nothing to keep"
        );
    }
}

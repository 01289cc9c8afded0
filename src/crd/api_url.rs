//! PURE: buun-curator's base URL (`curatorApi.url`) read by one strict grammar (the CRD's rule
//! [`CEL_RULE`] says the same), the `--allowed-curator-api-urls` patterns matched against its
//! parsed parts, and what the operator may send there: the token travels in cleartext only to
//! loopback or to an `http://` entry of the list, and an endpoint no entry names is never
//! quoted.
//!
//! The grammar: `http://` or `https://`, a host as in [`super::address`] (a DNS name, a
//! dotted-quad IPv4 address or a bracketed IPv6 literal), an optional port, and an optional
//! path of unreserved characters and `%XX` escapes. No user, query or fragment.

use std::fmt;

use super::address::{Host, HostPattern, Malformed, host_re, parse_host, parse_port, port_re};

/// The CRD's validation rule for `curatorApi.url` (see the module).
pub const CEL_RULE: &str = concat!(
    "self.matches('^https?://",
    host_re!(),
    "(?::",
    port_re!(),
    r")?(?:/(?:[A-Za-z0-9._~!$&()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?$')"
);

/// A base URL that passed the grammar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApiUrl {
    /// `https://` (else `http://`).
    pub https: bool,
    /// The host.
    pub host: Host,
    /// The port (the scheme's default when the URL gives none).
    pub port: u16,
    /// The path, without a trailing `/` (empty for none).
    pub path: String,
}

fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

fn path_ok(path: &str) -> bool {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || b"._~!$&()*+,;=:@/-".contains(&c) => i += 1,
            _ => return false,
        }
    }
    true
}

/// `scheme://authority/path` split, the scheme read.
fn split(text: &str) -> Option<(bool, &str, &str)> {
    let (https, rest) = if let Some(r) = text.strip_prefix("https://") {
        (true, r)
    } else {
        (false, text.strip_prefix("http://")?)
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    Some((https, authority, path))
}

/// `host[:port]` of an authority (a bracketed IPv6 host's colons are its own).
fn host_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || (h.starts_with('[') && h.ends_with(']')) => {
            (h, Some(p))
        }
        _ => (authority, None),
    }
}

impl ApiUrl {
    /// Reads `text` by the grammar (see the module).
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let bad = |why: &str| Malformed(format!("curatorApi.url {text:?} {why}"));
        if text.len() > 2048 {
            return Err(bad("is longer than 2048 characters"));
        }
        let (https, authority, path) =
            split(text).ok_or_else(|| bad("does not begin with http:// or https://"))?;
        let (host, port) = host_port(authority);
        let port = match port {
            None => default_port(https),
            Some(p) => parse_port(p).ok_or_else(|| bad("has no port from 1 to 65535"))?,
        };
        let host = parse_host(host).map_err(|why| bad(&format!("has a host that {why}")))?;
        if !path_ok(path) {
            return Err(bad(
                "has a path with a character other than letters, digits, ._~!$&()*+,;=:@/- and %XX (no user, query or fragment)",
            ));
        }
        Ok(Self {
            https,
            host,
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// Whether the host is this machine's (`localhost`, 127.0.0.0/8, `::1`): a token sent in
    /// cleartext there stays on the host (or, in a Pod, in its network namespace).
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Name(n) => n == "localhost",
            Host::V4(a) => a.is_loopback(),
            Host::V6(a) => a.is_loopback(),
        }
    }
}

impl fmt::Display for ApiUrl {
    /// The canonical form: lower-case host, no default port, no trailing `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.host)?;
        if self.port != default_port(self.https) {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(&self.path)
    }
}

/// One `--allowed-curator-api-urls` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlPattern {
    https: bool,
    host: HostPattern,
    /// `None`: any port.
    port: Option<u16>,
    /// A path prefix (whole segments), empty for any path.
    path: String,
}

impl UrlPattern {
    /// Reads `SCHEME://HOST[:PORT][/PATH]`: HOST as in `--allowed-temporal-addresses` (labels
    /// may be `*`), PORT a port or `*` (none: the scheme's default), PATH a prefix of whole
    /// segments.
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let text = text.trim();
        let bad = |why: &str| Malformed(format!("pattern {text:?} {why}"));
        let (https, authority, path) =
            split(text).ok_or_else(|| bad("does not begin with http:// or https://"))?;
        let (host, port) = host_port(authority);
        let port = match port {
            None => Some(default_port(https)),
            Some("*") => None,
            Some(p) => Some(parse_port(p).ok_or_else(|| bad("has no port from 1 to 65535, or *"))?),
        };
        let host = HostPattern::parse(host).map_err(bad)?;
        if !path_ok(path) {
            return Err(bad("has a path with characters a URL's path may not have"));
        }
        Ok(Self {
            https,
            host,
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// Whether `url` matches: scheme, host label by label, port, and path prefix.
    pub fn matches(&self, url: &ApiUrl) -> bool {
        let path = url.path.strip_prefix(&self.path);
        self.https == url.https
            && self.port.is_none_or(|p| p == url.port)
            && self.host.matches(&url.host)
            && path.is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// What the operator may do with a base URL, by `--allowed-curator-api-urls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// An entry of the list names it: its answers may be quoted in status.
    pub listed: bool,
}

/// The `--allowed-curator-api-urls` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlAllowList(Vec<UrlPattern>);

impl UrlAllowList {
    /// The list of `patterns`.
    pub fn new(patterns: Vec<UrlPattern>) -> Self {
        Self(patterns)
    }

    /// Whether the token may be sent to `url`, and how far its answers may be trusted. An
    /// empty list allows any `https://` URL and loopback; a list allows what it names. Either
    /// way the token goes in cleartext (`http://`) only to loopback or to a URL an `http://`
    /// entry names.
    pub fn check(&self, url: &ApiUrl) -> Result<Allowed, String> {
        let listed = self.0.iter().any(|p| p.matches(url));
        if !self.0.is_empty() && !listed {
            return Err(format!(
                "{url} is not allowed by the operator (--allowed-curator-api-urls); ask a cluster admin"
            ));
        }
        if !url.https && !url.is_loopback() && !listed {
            return Err(format!(
                "{url} is plain http and not loopback: the token is sent in cleartext only to an http:// URL the operator allows (--allowed-curator-api-urls)"
            ));
        }
        Ok(Allowed { listed })
    }
}

#[cfg(test)]
#[path = "api_url_tests.rs"]
mod tests;

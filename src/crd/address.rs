//! PURE: a Temporal frontend address, `host:port`, read by one strict grammar (the CRD's rule
//! [`CEL_RULE`] says the same), and the `--allowed-temporal-addresses` patterns matched against
//! its parsed parts, never against the text.
//!
//! The grammar: a DNS name (letters, digits and hyphens in dot-separated labels of at most 63
//! characters, at most 253 in all, the last label beginning with a letter), a dotted-quad IPv4
//! address, or a bracketed IPv6 literal (no zone); then `:` and a port from 1 to 65535. Nothing
//! else: no scheme, userinfo, path, `#`, `?`, `\` or `%`, so the host connected to is the host
//! the allow-list saw.

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr},
};

/// The longest address the grammar admits: a 253-character name, `:` and five digits.
pub const MAX_LEN: usize = 259;

/// The grammar's parts as RE2 (and Rust `regex`) source, escaped for a CEL string literal.
macro_rules! host_re {
    () => {
        concat!(
            // A DNS name whose last label begins with a letter.
            r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)*[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?",
            // A dotted-quad IPv4 address.
            r"|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
            // A bracketed IPv6 literal.
            r"|\\[[0-9a-fA-F:.]{2,45}\\])",
        )
    };
}
pub(crate) use host_re;

/// A port from 1 to 65535, as [`host_re`] writes it.
macro_rules! port_re {
    () => {
        r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    };
}
pub(crate) use port_re;

/// The CRD's validation rule for `spec.temporal.address`: the same grammar as
/// [`Address::parse`] (an IPv6 literal is only checked for its characters there; the operator
/// refuses one that does not parse, with `TemporalConfigInvalid`).
pub const CEL_RULE: &str = concat!("self.matches('^", host_re!(), ":", port_re!(), "$')");

/// The host of an address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, in lower case.
    Name(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    V6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A Temporal frontend address that passed the grammar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    /// Where to connect.
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Why an address or a pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(what: &str, text: &str, why: &str) -> Malformed {
    Malformed(format!("{what} {text:?} {why}"))
}

/// Whether `label` is a DNS label: 1–63 letters, digits or hyphens, no hyphen at either end.
fn is_label(label: &str) -> bool {
    let b = label.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A dotted quad, each part 0–255 without leading zeros.
fn dotted_quad(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        let canonical = !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && p.len() <= 3;
        if !canonical || (p.len() > 1 && p.starts_with('0')) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

pub(crate) fn parse_host(host: &str) -> Result<Host, &'static str> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("has an unclosed '['")?;
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::V6)
            .map_err(|_| "is not an IPv6 address in brackets");
    }
    if let Some(v4) = dotted_quad(host) {
        return Ok(Host::V4(v4));
    }
    let labels: Vec<&str> = host.split('.').collect();
    let last = labels.last().copied().unwrap_or_default();
    if host.len() > 253 || !labels.iter().all(|l| is_label(l)) {
        return Err("is not a DNS name, an IPv4 address or a bracketed IPv6 address");
    }
    if !last.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("ends in a label that does not begin with a letter (and is no IPv4 address)");
    }
    Ok(Host::Name(host.to_ascii_lowercase()))
}

pub(crate) fn parse_port(port: &str) -> Option<u16> {
    let digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|c| c.is_ascii_digit());
    (digits && !port.starts_with('0'))
        .then(|| port.parse().ok())
        .flatten()
}

/// Splits `host:port` at the last colon outside brackets.
fn split(text: &str) -> Option<(&str, &str)> {
    let (host, port) = text.rsplit_once(':')?;
    let bracketed = host.starts_with('[') && host.ends_with(']');
    (bracketed || !host.contains(':')).then_some((host, port))
}

impl Address {
    /// Reads `text` by the grammar (see the module).
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let what = "address";
        if text.len() > MAX_LEN {
            return Err(malformed(what, text, "is longer than 259 characters"));
        }
        let (host, port) = split(text).ok_or_else(|| malformed(what, text, "is not host:port"))?;
        let port =
            parse_port(port).ok_or_else(|| malformed(what, text, "has no port from 1 to 65535"))?;
        let host = parse_host(host).map_err(|why| malformed(what, text, why))?;
        Ok(Self { host, port })
    }

    /// The URL to connect to, `http://` or `https://`.
    pub fn url(&self, tls: bool) -> String {
        format!("{}://{self}", if tls { "https" } else { "http" })
    }
}

/// One `--allowed-temporal-addresses` entry: a host pattern and a port (or `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    host: HostPattern,
    port: Option<u16>,
}

/// A host pattern: labels that may be `*`, or one IPv6 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// Dot-separated labels, where a `*` label stands for one or more whole labels.
    Labels(Vec<String>),
    /// One IPv6 address.
    V6(Ipv6Addr),
}

impl Pattern {
    /// Reads a pattern: `HOST:PORT`, where HOST is a name or address as in [`Address`], whose
    /// labels may each be `*` (one or more whole labels: `*.tmprl.cloud`, `10.0.0.*`, or `*`
    /// for any host), and PORT is a port or `*`.
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let what = "pattern";
        let text = text.trim();
        let (host, port) = split(text).ok_or_else(|| malformed(what, text, "is not HOST:PORT"))?;
        let port = match port {
            "*" => None,
            p => Some(
                parse_port(p)
                    .ok_or_else(|| malformed(what, text, "has no port from 1 to 65535, or *"))?,
            ),
        };
        let host = HostPattern::parse(host).map_err(|why| malformed(what, text, why))?;
        Ok(Self { host, port })
    }

    /// Whether `address` matches: its port, and its host label by label.
    pub fn matches(&self, address: &Address) -> bool {
        if self.port.is_some_and(|p| p != address.port) {
            return false;
        }
        self.host.matches(&address.host)
    }
}

impl HostPattern {
    /// Reads a host pattern (see [`Pattern::parse`]).
    pub(crate) fn parse(host: &str) -> Result<Self, &'static str> {
        if host.starts_with('[') {
            return match parse_host(host) {
                Ok(Host::V6(a)) => Ok(Self::V6(a)),
                _ => Err("is not a bracketed IPv6 address"),
            };
        }
        let labels: Vec<String> = host.split('.').map(str::to_ascii_lowercase).collect();
        if !labels.iter().all(|l| l == "*" || is_label(l)) {
            return Err(
                "has a label that is neither a DNS label nor * (a * stands for whole labels)",
            );
        }
        Ok(Self::Labels(labels))
    }

    /// Whether `host` matches, label by label (an IPv6 address: as an address; `*` matches
    /// any host).
    pub(crate) fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (Self::Labels(p), _) if p.len() == 1 && p[0] == "*" => true,
            (Self::V6(p), Host::V6(a)) => p == a,
            (Self::Labels(p), Host::Name(_) | Host::V4(_)) => {
                let text = host.to_string();
                let labels: Vec<&str> = text.split('.').collect();
                labels_match(p, &labels)
            }
            _ => false,
        }
    }
}

/// Label-wise matching, where a `*` pattern label takes one or more labels.
fn labels_match(pattern: &[String], labels: &[&str]) -> bool {
    match pattern.split_first() {
        None => labels.is_empty(),
        Some((p, rest)) if p == "*" => (1..=labels.len()).any(|n| labels_match(rest, &labels[n..])),
        Some((p, rest)) => {
            labels.first().is_some_and(|l| l == p) && labels_match(rest, &labels[1..])
        }
    }
}

/// The `--allowed-temporal-addresses` list: empty allows every address that passes the
/// grammar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Pattern>);

impl AllowList {
    /// The list of `patterns`.
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Self(patterns)
    }

    /// Reads every pattern; the first malformed one is the error.
    pub fn parse(patterns: &[String]) -> Result<Self, Malformed> {
        let parsed = patterns
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Pattern::parse(p))
            .collect::<Result<_, _>>()?;
        Ok(Self(parsed))
    }

    /// Whether the list names no pattern (every address is allowed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is allowed.
    pub fn allows(&self, address: &Address) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p.matches(address))
    }
}

#[cfg(test)]
#[path = "address_tests.rs"]
pub(crate) mod tests;

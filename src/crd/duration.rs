//! Go-style duration strings (`90s`, `30m`, `1h30m`, `500ms`), as Kubernetes APIs spell them.

use std::{borrow::Cow, fmt, str::FromStr, time::Duration};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The pattern every duration field must match: one or more `<integer><unit>` groups with units
/// `h`, `m`, `s`, `ms`, `us` or `ns`, e.g. `1h30m`. The CRD schema enforces it at `kubectl apply`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(h|m|s|ms|us|ns))+$";

/// A duration written as a Go/Kubernetes duration string, such as `90s`, `30m` or `1h30m`.
///
/// It keeps the text the user wrote (so a round trip through the API server is byte-identical)
/// and parses it on demand.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GoDuration(pub String);

/// Why a duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: expected Go-style groups like 90s, 30m or 1h30m")]
pub struct DurationError(pub String);

impl GoDuration {
    /// Wraps a duration string without checking it.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// Parses the string into a [`Duration`].
    pub fn parse(&self) -> Result<Duration, DurationError> {
        parse_go_duration(&self.0)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
        })
    }
}

/// Parses a duration made of `<integer><unit>` groups (`h`, `m`, `s`, `ms`, `us`, `ns`).
///
/// This is the subset of Go's `time.ParseDuration` that [`DURATION_PATTERN`] admits: no sign,
/// no fractions, at least one group. Overflow is an error rather than a wrap.
pub fn parse_go_duration(s: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(s.to_owned());
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(err());
    }
    let mut total: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(err());
        }
        let value: u128 = s[start..i].parse().map_err(|_| err())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let nanos_per_unit: u128 = match &s[unit_start..i] {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" => 1_000,
            "ns" => 1,
            _ => return Err(err()),
        };
        total = value
            .checked_mul(nanos_per_unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| err())?;
    // The remainder is below 1e9 and always fits.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration the way Go prints it (`1h30m0s` is written `1h30m`): the shortest exact form.
pub fn format_go_duration(d: Duration) -> String {
    let total = d.as_nanos();
    if total == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = total;
    for (unit, nanos) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        let n = rest / nanos;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest %= nanos;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_combinations() {
        let cases = [
            ("90s", Duration::from_secs(90)),
            ("30m", Duration::from_secs(1800)),
            ("1h30m", Duration::from_secs(5400)),
            ("2h0m5s", Duration::from_secs(7205)),
            ("500ms", Duration::from_millis(500)),
            ("7us", Duration::from_micros(7)),
            ("3ns", Duration::from_nanos(3)),
            ("0s", Duration::ZERO),
            ("1m1m", Duration::from_secs(120)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_what_the_schema_rejects() {
        for bad in [
            "",
            "5",
            "m",
            "1d",
            "-1s",
            "1.5h",
            "1 h",
            "1H",
            "h1",
            "1hm",
            "99999999999999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} must be rejected");
            if bad != "99999999999999999999h" {
                assert!(
                    !pattern().is_match(bad),
                    "{bad:?} must not match the schema"
                );
            }
        }
    }

    fn pattern() -> regex::Regex {
        regex::Regex::new(DURATION_PATTERN).expect("pattern compiles")
    }

    #[test]
    fn schema_pattern_and_parser_agree_on_valid_input() {
        for good in ["90s", "1h30m", "500ms", "7us", "3ns", "0s", "10m5s"] {
            assert!(pattern().is_match(good), "{good}");
            assert!(parse_go_duration(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn formats_shortest_form() {
        assert_eq!(format_go_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        for s in ["1h30m", "45s", "2h5ms"] {
            assert_eq!(format_go_duration(parse_go_duration(s).unwrap()), s);
        }
    }
}

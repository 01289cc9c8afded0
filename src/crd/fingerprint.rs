//! A fingerprint in a FeedSource's status as the operator holds it in memory: the same string
//! on the wire and in the schema, but a SHA-256 in hex (what the operator writes) is kept as
//! its 32 bytes. Three of them in every cached FeedSource took 88 bytes each as `String`s.

use std::{borrow::Cow, fmt};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A fingerprint: a SHA-256 in lowercase hex, held as its bytes, or any other text as it came
/// (40 bytes either way, `Option` included).
#[derive(Clone, PartialEq, Eq)]
pub enum Fingerprint {
    /// 64 lowercase hex digits, as bytes.
    Sha256([u8; 32]),
    /// Any other text.
    Text(Box<str>),
}

impl Fingerprint {
    /// Whether it reads `text`, without rendering it.
    pub fn is(&self, text: &str) -> bool {
        match self {
            Self::Sha256(bytes) => sha256(text).is_some_and(|b| b == *bytes),
            Self::Text(own) => **own == *text,
        }
    }
}

/// PURE: 64 lowercase hex digits as bytes; anything else gives `None`.
fn sha256(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

impl From<&str> for Fingerprint {
    fn from(text: &str) -> Self {
        sha256(text).map_or_else(|| Self::Text(text.into()), Self::Sha256)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha256(bytes) => bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
            Self::Text(own) => f.write_str(own),
        }
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cow::<'de, str>::deserialize(d).map(|text| Self::from(&*text))
    }
}

impl JsonSchema for Fingerprint {
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        String::schema_id()
    }

    fn inline_schema() -> bool {
        String::inline_schema()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    const HEX: &str = "00ff10a9b2c3d4e5f60718293a4b5c6d7e8f9001122334455667788990abcdef";

    #[test]
    fn a_sha256_is_held_as_bytes_and_reads_back_the_same() {
        let f = Fingerprint::from(HEX);
        assert!(matches!(f, Fingerprint::Sha256(b) if b[0] == 0 && b[1] == 0xff && b[31] == 0xef));
        assert_eq!(f.to_string(), HEX);
        assert!(f.is(HEX));
        assert!(!f.is(&HEX.replace("00ff", "00fe")));
        assert_eq!(serde_json::to_value(&f).unwrap(), serde_json::json!(HEX));
        let back: Fingerprint = serde_json::from_value(serde_json::json!(HEX)).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn any_other_text_is_kept_as_it_came() {
        for text in [
            "",
            "fp",
            &HEX.to_uppercase(),
            &HEX[..62],
            &format!("{HEX}0"),
        ] {
            let f: Fingerprint = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(f, Fingerprint::Text(text.into()), "{text}");
            assert_eq!(f.to_string(), text);
            assert!(f.is(text) && !f.is(HEX));
            assert_eq!(serde_json::to_value(&f).unwrap(), serde_json::json!(text));
        }
    }

    #[test]
    fn an_optional_fingerprint_takes_40_bytes() {
        assert_eq!(std::mem::size_of::<Option<Fingerprint>>(), 40);
    }
}

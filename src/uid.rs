//! PURE: a Kubernetes object's UID as the compact key of the maps the operator keeps per
//! object.

/// A UID as a map key: a UUID (what every API server gives) as its 128 bits, any other text
/// as it is: nothing on the heap for a UUID, where a `String` key holds its text there, in
/// every map kept per FeedSource (BENCHMARKS.md).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UidKey {
    /// A UUID, high and low halves (two `u64`s rather than a `u128`, whose 16-byte alignment
    /// would make the key 32 bytes).
    Uuid([u64; 2]),
    /// Any other UID.
    Text(Box<str>),
}

impl From<&str> for UidKey {
    fn from(uid: &str) -> Self {
        uuid(uid).map_or_else(
            || Self::Text(uid.into()),
            |n| Self::Uuid([(n >> 64) as u64, n as u64]),
        )
    }
}

/// PURE: a UUID in its canonical text form (8-4-4-4-12 lowercase hex digits) as a number; any
/// other text gives `None`, so that it keeps its text and compares as text.
pub fn uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut n: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        n = (n << 4) | u128::from(d);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::{UidKey, uuid};

    #[test]
    fn a_uuid_becomes_its_number_and_any_other_uid_stays_text() {
        let u = "0123abcd-4567-89ef-0123-456789abcdef";
        assert_eq!(uuid(u), Some(0x0123_abcd_4567_89ef_0123_4567_89ab_cdef));
        assert_eq!(
            UidKey::from(u),
            UidKey::Uuid([0x0123_abcd_4567_89ef, 0x0123_4567_89ab_cdef])
        );
        for other in [
            "0123ABCD-4567-89EF-0123-456789ABCDEF",
            "0123abcd-4567-89ef-0123-456789abcdeg",
            "0123abcd+4567-89ef-0123-456789abcdef",
            "0123abcd-4567-89ef-0123-456789abcde",
            "",
            "uid-a",
        ] {
            assert_eq!(uuid(other), None, "{other}");
            assert_eq!(UidKey::from(other), UidKey::Text(other.into()));
        }
        assert_ne!(
            UidKey::from(u),
            UidKey::from("0123abcd-4567-89ef-0123-456789abcdee")
        );
    }

    #[test]
    fn a_key_takes_24_bytes() {
        assert_eq!(std::mem::size_of::<UidKey>(), 24);
    }
}

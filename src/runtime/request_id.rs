//! Unique request IDs: Temporal deduplicates the retries of one logical request by its ID, so
//! each logical request gets its own.

use std::sync::atomic::{AtomicU64, Ordering};

/// A request ID unique to this process and call: `<kind>-<pid>-<nanos>-<sequence>`.
pub fn request_id(kind: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{kind}-{}-{nanos}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_call_gets_its_own() {
        let (a, b) = (super::request_id("x"), super::request_id("x"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("x-{}-", std::process::id())), "{a}");
    }
}

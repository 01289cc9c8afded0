//! The workflow input: `FeedSpec` → the camelCase JSON object `SingleFeedIngestionInput` reads.

use serde_json::{Map, Value, json};

use crate::crd::{
    SpecError,
    feedsource::{
        FORBIDDEN_INPUT_KEYS, FeedSpec, IGNORED_INPUT_KEYS, InputField, TYPED_INPUT_KEYS,
    },
};

/// Temporal's default limit on a single payload (`limit.blobSize.error`, 2 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

/// Builds the workflow input object for the feed `feed_id`. Unset optional fields are left
/// out, so the worker's own defaults apply; `extraInput` is merged last and may not repeat a
/// typed field.
pub fn workflow_input(feed: &FeedSpec, feed_id: &str) -> Result<Map<String, Value>, SpecError> {
    let url = url::Url::parse(&feed.url).map_err(|_| SpecError::InvalidUrl(feed.url.clone()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SpecError::InvalidUrl(feed.url.clone()));
    }
    let mut m = Map::new();
    m.insert("feedId".into(), json!(feed_id));
    m.insert("feedName".into(), json!(feed.name));
    m.insert("feedUrl".into(), json!(feed.url));
    let mut opt = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    opt("fetchLimit", feed.fetch_limit.map(Value::from));
    opt("autoDistill", feed.auto_distill.map(Value::from));
    opt(
        "enableContentFetch",
        feed.enable_content_fetch.map(Value::from),
    );
    opt(
        "targetLanguage",
        feed.target_language.clone().map(Value::from),
    );
    opt("enableThumbnail", feed.enable_thumbnail.map(Value::from));
    let delay = match &feed.domain_fetch_delay {
        Some(d) => Some(
            d.parse()
                .map_err(|source| SpecError::Duration {
                    field: "feed.domainFetchDelay",
                    source,
                })?
                .as_secs_f64(),
        ),
        None => None,
    };
    opt("domainFetchDelay", delay.map(Value::from));
    opt("maxEntryAgeDays", feed.max_entry_age_days.map(Value::from));
    opt(
        "distillationBatchSize",
        feed.distillation_batch_size.map(Value::from),
    );
    for InputField { name: k, value: v } in &feed.extra_input {
        if TYPED_INPUT_KEYS.contains(&k.as_str()) {
            return Err(SpecError::ExtraInputKey(
                k.clone(),
                "it repeats a typed feed field",
            ));
        }
        if FORBIDDEN_INPUT_KEYS.contains(&k.as_str()) {
            return Err(SpecError::ExtraInputKey(
                k.clone(),
                "a fixed value disables conditional GET",
            ));
        }
        if IGNORED_INPUT_KEYS.contains(&k.as_str()) {
            return Err(SpecError::ExtraInputKey(
                k.clone(),
                "the worker reads it from the feed in buun-curator, never from its input",
            ));
        }
        if m.insert(k.clone(), v.clone()).is_some() {
            return Err(SpecError::ExtraInputKey(k.clone(), "it is listed twice"));
        }
    }
    Ok(m)
}

/// Encodes the input as the `json/plain` bytes Temporal carries, enforcing the payload limit.
pub fn encode_input(input: &Map<String, Value>) -> Result<Vec<u8>, SpecError> {
    // Serializing a map of JSON values cannot fail.
    let bytes = serde_json::to_vec(input).unwrap_or_default();
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(SpecError::InputTooLarge {
            size: bytes.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(bytes)
}

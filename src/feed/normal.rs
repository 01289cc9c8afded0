//! PURE: URLs compared as the same resource, not as spelled: feed locks, adoption by URL and
//! feed claims all use [`url`].

/// PURE: `raw` normalised: scheme and host in lower case, no default port, no trailing slash
/// (`https://Example.com:443/feed/` is `https://example.com/feed`); the query is kept. A string
/// that is no URL is only trimmed.
pub fn url(raw: &str) -> String {
    let raw = raw.trim();
    let Ok(parsed) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    let mut s = parsed.to_string();
    // No fragment reaches a server; a trailing slash of the path names the same resource.
    if let Some(hash) = s.find('#') {
        s.truncate(hash);
    }
    let path_end = s.find('?').unwrap_or(s.len());
    let (path, query) = s.split_at(path_end);
    let path = path.trim_end_matches('/');
    // Never strip the `//` of an authority-less URL down to its scheme.
    if path.ends_with(':') {
        return s;
    }
    format!("{path}{query}")
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn one_resource_one_spelling() {
        let same = [
            "https://example.com/feed",
            "HTTPS://Example.COM/feed",
            "https://example.com:443/feed",
            "https://example.com/feed/",
            " https://example.com/feed#top",
        ];
        for s in same {
            assert_eq!(url(s), "https://example.com/feed", "{s}");
        }
        assert_eq!(url("http://example.com:80/"), "http://example.com");
        assert_eq!(url("http://curator:3000/"), "http://curator:3000");
        assert_eq!(url("https://e.com/f/?a=1"), "https://e.com/f?a=1");
    }

    #[test]
    fn what_differs_stays_apart() {
        assert_ne!(
            url("http://example.com/feed"),
            url("https://example.com/feed")
        );
        assert_ne!(
            url("https://example.com/Feed"),
            url("https://example.com/feed")
        );
        assert_ne!(
            url("https://example.com:8443/f"),
            url("https://example.com/f")
        );
        assert_ne!(url("https://e.com/f?a=1"), url("https://e.com/f?a=2"));
        assert_eq!(url("not a url "), "not a url");
    }
}

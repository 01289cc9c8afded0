use super::{ApiUrl, CEL_RULE, UrlAllowList, UrlPattern};
use crate::crd::address::tests::rule_regex;

fn url(text: &str) -> ApiUrl {
    ApiUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn list(patterns: &[&str]) -> UrlAllowList {
    UrlAllowList::new(
        patterns
            .iter()
            .map(|p| UrlPattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}")))
            .collect(),
    )
}

const TRICKS: [&str; 9] = [
    "http://127.0.0.1#.example.com",
    "http://user:pass@curator.example.com",
    "http://curator.example.com@evil.example",
    "https://curator.example.com/?x=1",
    "https://curator.example.com/#x",
    "https://curator.example.com\\@evil.example",
    "https://0x7f.1/",
    "ftp://curator.example.com",
    "https://curator.example.com/%zz",
];

#[test]
fn the_grammar_reads_scheme_host_port_and_path() {
    let u = url("http://Buun-Curator.news:3000/");
    assert_eq!(
        u.to_string(),
        "http://buun-curator.news:3000",
        "canonical form"
    );
    assert_eq!(
        url("https://curator.example.com:443/base/").to_string(),
        "https://curator.example.com/base"
    );
    assert_eq!(url("http://[::1]:3000").port, 3000);
    assert_eq!(url("https://curator.example.com").port, 443);
    assert!(url("http://localhost:3000").is_loopback());
    assert!(url("http://127.0.0.7").is_loopback());
    assert!(url("http://[::1]").is_loopback());
    assert!(!url("http://buun-curator:3000").is_loopback());
    for bad in TRICKS {
        assert!(ApiUrl::parse(bad).is_err(), "{bad} must be refused");
    }
}

#[test]
fn the_token_goes_in_cleartext_only_to_loopback_or_a_listed_http_entry() {
    let open = UrlAllowList::default();
    assert!(open.check(&url("https://curator.example.com")).is_ok());
    assert_eq!(
        open.check(&url("https://curator.example.com"))
            .map(|a| a.listed),
        Ok(false)
    );
    assert!(open.check(&url("http://127.0.0.1:3000")).is_ok());
    assert!(
        open.check(&url("http://buun-curator.news:3000")).is_err(),
        "cleartext to a remote host needs an http:// entry"
    );
    let l = list(&["http://buun-curator.*:3000", "https://*.example.com/api"]);
    assert_eq!(
        l.check(&url("http://buun-curator.news:3000"))
            .map(|a| a.listed),
        Ok(true)
    );
    assert!(
        l.check(&url("http://buun-curator.news:3001")).is_err(),
        "the port"
    );
    assert!(
        l.check(&url("https://buun-curator.news:3000")).is_err(),
        "the scheme"
    );
    assert!(
        l.check(&url("https://c.example.com/api/v1")).is_ok(),
        "a path under the prefix"
    );
    assert!(
        l.check(&url("https://c.example.com/apix")).is_err(),
        "whole segments"
    );
    assert!(l.check(&url("https://c.example.com")).is_err());
    assert!(
        l.check(&url("http://127.0.0.1:3000")).is_err(),
        "a list allows only what it names"
    );
    assert!(
        list(&["https://c.example.com:*"])
            .check(&url("https://c.example.com:8443"))
            .is_ok()
    );
}

#[test]
fn malformed_patterns_are_refused() {
    for bad in [
        "buun-curator:3000",
        "http://curator-*.news",
        "http://c.news:x",
        "http://c.news/?a",
    ] {
        assert!(UrlPattern::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_crd_rule_and_the_parser_agree() {
    let re = rule_regex(CEL_RULE);
    let mut cases: Vec<&str> = TRICKS.to_vec();
    cases.extend([
        "http://buun-curator.news:3000",
        "https://curator.example.com/base/",
        "http://127.0.0.1:3000",
        "http://[::1]:3000/x",
        "http://256.0.0.1",
        "http://a.9b",
        "http://c.news:0",
        "http://c.news:65536",
        "http://c.news/a%2Fb",
        "http://c.news/a b",
    ]);
    for c in cases {
        let parsed = ApiUrl::parse(c).is_ok();
        if c.contains('[') && re.is_match(c) {
            continue;
        }
        assert_eq!(re.is_match(c), parsed, "{c}: rule and parser differ");
    }
}

mod properties {
    use proptest::prelude::*;

    use super::{ApiUrl, CEL_RULE, rule_regex};

    proptest! {
        #[test]
        fn rule_and_parser_agree_on_any_text(rest in "[a-z0-9.:/@#?%\\-]{1,30}") {
            for scheme in ["http://", "https://"] {
                let text = format!("{scheme}{rest}");
                prop_assert_eq!(rule_regex(CEL_RULE).is_match(&text), ApiUrl::parse(&text).is_ok(), "{}", text);
            }
        }
    }
}

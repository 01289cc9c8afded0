use super::{Address, AllowList, CEL_RULE, Host, Pattern};

fn ok(text: &str) -> Address {
    Address::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn allowed(patterns: &[&str], address: &str) -> bool {
    let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
    AllowList::parse(&patterns)
        .expect("patterns")
        .allows(&ok(address))
}

/// The addresses the issue found passing the old text match, and their kin.
const TRICKS: [&str; 14] = [
    "evil.example#.tmprl.cloud:7233",
    "127.0.0.1#.tmprl.cloud:7233",
    "127.0.0.1@evil.example:7233",
    "user:pass@ns.tmprl.cloud:7233",
    "evil.example?.tmprl.cloud:7233",
    "evil.example\\.tmprl.cloud:7233",
    "evil.example/.tmprl.cloud:7233",
    "evil%2eexample.tmprl.cloud:7233",
    "http://ns.tmprl.cloud:7233",
    "ns.tmprl.cloud:7233/path",
    "ns.tmprl.cloud:0x1c71",
    "0x7f.1:7233",
    "[fe80::1%25eth0]:7233",
    "ns.tmprl.cloud.:7233",
];

#[test]
fn the_grammar_admits_names_ipv4_and_bracketed_ipv6_with_a_port() {
    assert_eq!(
        ok("Temporal-Frontend.temporal.svc:7233").host,
        Host::Name("temporal-frontend.temporal.svc".into()),
        "names are kept in lower case"
    );
    assert_eq!(ok("temporal:7233").port, 7233);
    assert_eq!(ok("127.0.0.1:65535").host, Host::V4([127, 0, 0, 1].into()));
    assert_eq!(
        ok("[::1]:7233").host,
        Host::V6(std::net::Ipv6Addr::LOCALHOST)
    );
    assert_eq!(ok("[::1]:7233").to_string(), "[::1]:7233");
    assert_eq!(
        ok("ns.acct.tmprl.cloud:7233").url(true),
        "https://ns.acct.tmprl.cloud:7233"
    );
    for bad in TRICKS {
        assert!(Address::parse(bad).is_err(), "{bad} must be refused");
    }
    for bad in [
        "temporal",
        "temporal:",
        "temporal:0",
        "temporal:65536",
        "temporal:07233",
        ":7233",
        "-temporal:7233",
        "temporal-.svc:7233",
        "a..b:7233",
        "1.2.3:7233",
        "1.2.3.256:7233",
        "01.2.3.4:7233",
        "::1:7233",
        "[::1:7233",
        "[not-v6]:7233",
        "tem poral:7233",
        "temporal.123:7233",
    ] {
        assert!(Address::parse(bad).is_err(), "{bad} must be refused");
    }
    let long = format!(
        "{}.{}.{}.{}.x:7233",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert!(Address::parse(&long).is_err(), "a name over 253 characters");
    assert!(
        Address::parse(&format!("{}:7233", "a".repeat(64))).is_err(),
        "a label over 63"
    );
}

#[test]
fn patterns_match_the_parsed_host_label_by_label_and_the_port() {
    let cloud = ["*.tmprl.cloud:7233"];
    assert!(allowed(&cloud, "ns.acct.tmprl.cloud:7233"));
    assert!(
        allowed(&cloud, "NS.ACCT.TMPRL.CLOUD:7233"),
        "case is ignored"
    );
    assert!(
        !allowed(&cloud, "tmprl.cloud:7233"),
        "* takes at least one label"
    );
    assert!(!allowed(&cloud, "tmprl.cloud.evil.example:7233"));
    assert!(
        !allowed(&cloud, "eviltmprl.cloud:7233"),
        "* takes whole labels only"
    );
    assert!(!allowed(&cloud, "ns.tmprl.cloud:7234"));
    let local = ["127.0.0.*:7233"];
    assert!(allowed(&local, "127.0.0.9:7233"));
    assert!(!allowed(&local, "127.0.1.9:7233"));
    assert!(!allowed(&local, "localhost:7233"));
    assert!(allowed(
        &["temporal-frontend.*:*"],
        "temporal-frontend.temporal.svc:7000"
    ));
    assert!(allowed(&["*:7233"], "anything.example:7233"));
    assert!(allowed(&["*:7233"], "[::1]:7233"));
    assert!(
        allowed(&["[::1]:7233"], "[0:0::1]:7233"),
        "IPv6 compared as addresses"
    );
    assert!(!allowed(&["[::1]:7233"], "127.0.0.1:7233"));
    assert!(allowed(&[], "anything.example:1"), "no list: every address");
    assert!(allowed(&["a.*.c:1"], "a.x.y.c:1"));
    assert!(!allowed(&["a.*.c:1"], "a.c:1"));
}

#[test]
fn a_malformed_pattern_is_refused_at_start() {
    for bad in [
        "temporal-*.svc:7233",
        "*.tmprl.cloud",
        "*.tmprl.cloud:72x3",
        "evil#.tmprl.cloud:7233",
        "[::1:7233",
        "http://temporal:7233",
    ] {
        assert!(Pattern::parse(bad).is_err(), "{bad} must be refused");
    }
    assert!(
        Pattern::parse(" temporal:7233 ").is_ok(),
        "spaces are trimmed"
    );
    assert!(
        AllowList::parse(&[String::new()])
            .expect("empty")
            .is_empty()
    );
}

/// A CRD rule `self.matches('…')` as a Rust regex (its CEL string literal unescaped).
pub(crate) fn rule_regex(rule: &str) -> regex::Regex {
    let body = rule
        .strip_prefix("self.matches('")
        .and_then(|r| r.strip_suffix("')"))
        .expect("one matches() call");
    regex::Regex::new(&body.replace("\\\\", "\\")).expect("the rule's regex compiles")
}

#[test]
fn the_crd_rule_and_the_parser_agree() {
    let re = rule_regex(CEL_RULE);
    let mut cases: Vec<String> = TRICKS.iter().map(|s| (*s).to_owned()).collect();
    cases.extend(
        [
            "temporal:7233",
            "temporal-frontend.temporal.svc.cluster.local:7233",
            "127.0.0.1:1",
            "255.255.255.255:65535",
            "256.1.1.1:7233",
            "1.2.3:7233",
            "temporal.123:7233",
            "temporal:65536",
            "temporal:07233",
            "[::1]:7233",
            "a-b.c:7233",
            "-a.c:7233",
            "a.b-:7233",
            "9a.b:7233",
            "a.9b:7233",
        ]
        .map(str::to_owned),
    );
    for c in &cases {
        let parsed = Address::parse(c).is_ok();
        // The rule checks an IPv6 literal's characters only; the parser reads it.
        if c.starts_with('[') && re.is_match(c) {
            continue;
        }
        assert_eq!(re.is_match(c), parsed, "{c}: rule and parser differ");
    }
}

mod properties {
    use proptest::prelude::*;

    use super::{Address, CEL_RULE, rule_regex};

    proptest! {
        #[test]
        fn rule_and_parser_agree_on_any_text(text in "[a-z0-9.:\\-#@?/\\[\\]%]{1,40}") {
            let re = rule_regex(CEL_RULE);
            let parsed = Address::parse(&text).is_ok();
            if !(text.starts_with('[') && re.is_match(&text)) {
                prop_assert_eq!(re.is_match(&text), parsed, "{}", text);
            }
        }

        #[test]
        fn what_parses_prints_back_as_it_was_read(text in "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,5}){0,3}:[1-9][0-9]{0,3}") {
            if let Ok(a) = Address::parse(&text) {
                prop_assert_eq!(a.to_string(), text);
            }
        }
    }
}

//! Unit tests of the required-settings check.

use super::*;
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, EnvVarSource, SecretEnvSource, SecretKeySelector,
};

fn required() -> Vec<String> {
    crate::crd::curatorworker::REQUIRED_ENV
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

fn literal(name: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(String::new()),
        value_from: None,
    }
}

fn from_secret(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(optional),
            }),
            ..Default::default()
        }),
    }
}

fn secret_env(name: &str, prefix: Option<&str>) -> EnvFromSource {
    EnvFromSource {
        prefix: prefix.map(Into::into),
        secret_ref: Some(SecretEnvSource {
            name: name.into(),
            optional: None,
        }),
        config_map_ref: None,
    }
}

fn keys(k: &[&str]) -> Read {
    Read::Keys(k.iter().map(|s| (*s).to_owned()).collect())
}

fn secret(n: &str) -> Source {
    Source::Secret(n.into())
}

#[test]
fn a_worker_without_the_llm_key_is_told_which_setting_is_missing_and_why() {
    // The operator's own env from curatorApi gives the token; nothing gives the LLM key.
    let env = vec![from_secret("INTERNAL_API_TOKEN", "curator", "token", false)];
    let read = BTreeMap::from([(secret("curator"), keys(&["token"]))]);
    let c = check(&required(), &env, &[], &read);
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::False, "MissingSettings")
    );
    assert!(
        c.message.starts_with(
            "OPENAI_API_KEY is not set: neither spec.env nor spec.envFrom provides it"
        ),
        "{}",
        c.message
    );
    assert!(
        !c.message.contains("INTERNAL_API_TOKEN is not set"),
        "{}",
        c.message
    );
    // From an envFrom Secret that lacks the key.
    let from = vec![secret_env("llm", None)];
    let read = BTreeMap::from([
        (secret("curator"), keys(&["token"])),
        (secret("llm"), keys(&["ANTHROPIC_API_KEY"])),
    ]);
    let c = check(&required(), &env, &from, &read);
    assert!(
        c.message.contains("Secret llm has no key OPENAI_API_KEY"),
        "{}",
        c.message
    );
}

#[test]
fn every_way_of_providing_a_setting_counts() {
    let env = vec![
        from_secret("INTERNAL_API_TOKEN", "curator", "token", false),
        literal("OPENAI_API_KEY"),
    ];
    let read = BTreeMap::from([(secret("curator"), keys(&["token"]))]);
    let c = check(&required(), &env, &[], &read);
    assert_eq!(
        c.status,
        Status::True,
        "an empty value is set: {}",
        c.message
    );
    // With a prefix, from an envFrom Secret; env comes first.
    let env = vec![from_secret("INTERNAL_API_TOKEN", "curator", "token", false)];
    let from = vec![secret_env("llm", Some("OPENAI_"))];
    let read = BTreeMap::from([
        (secret("curator"), keys(&["token"])),
        (secret("llm"), keys(&["API_KEY"])),
    ]);
    let c = check(&required(), &env, &from, &read);
    assert_eq!(c.status, Status::True, "{}", c.message);
    assert!(
        c.message
            .contains("OPENAI_API_KEY from Secret llm (envFrom), key API_KEY"),
        "{}",
        c.message
    );
    let none: Vec<String> = Vec::new();
    assert_eq!(
        check(&none, &[], &[], &BTreeMap::new()).status,
        Status::True
    );
}

#[test]
fn a_missing_key_or_secret_and_an_unreadable_one_say_so() {
    let env = vec![
        from_secret("INTERNAL_API_TOKEN", "curator", "token", false),
        from_secret("OPENAI_API_KEY", "llm", "key", true),
    ];
    let read = BTreeMap::from([
        (secret("curator"), Read::Missing),
        (secret("llm"), keys(&[])),
    ]);
    let c = check(&required(), &env, &[], &read);
    assert_eq!(c.status, Status::False);
    assert!(
        c.message.contains("Secret llm has no key key (optional)"),
        "{}",
        c.message
    );
    assert!(
        c.message
            .contains("Secret curator does not exist: the container cannot even be created"),
        "{}",
        c.message
    );
    let read = BTreeMap::from([
        (secret("curator"), keys(&["token"])),
        (secret("llm"), Read::Failed("forbidden".into())),
    ]);
    let c = check(&required(), &env, &[], &read);
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Unknown, "NotChecked")
    );
}

#[test]
fn only_the_sources_that_may_provide_a_required_setting_are_read() {
    let env = vec![
        from_secret("INTERNAL_API_TOKEN", "curator", "token", false),
        from_secret("S3_SECRET_KEY", "s3", "secret", false),
    ];
    let from = vec![
        secret_env("llm", None),
        secret_env("langfuse", Some("LANGFUSE_")),
        EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "tuning".into(),
                optional: None,
            }),
            ..Default::default()
        },
    ];
    let s = sources(&required(), &env, &from);
    assert_eq!(
        s.into_iter().collect::<Vec<_>>(),
        [
            Source::Secret("curator".into()),
            Source::Secret("llm".into()),
            Source::ConfigMap("tuning".into())
        ]
    );
    assert!(sources(&[], &env, &from).is_empty());
}

//! PURE: whether the worker container gets the settings it cannot start without.
//!
//! buun-curator's worker exits at start unless `OPENAI_API_KEY` and `INTERNAL_API_TOKEN` are in
//! its environment (`ValueError: Required environment variable 'OPENAI_API_KEY' is not set`),
//! even when no step of a run calls an LLM; a Deployment without them crash-loops. The
//! environment the container gets is the operator's own (`deployment::container_env`, with
//! `INTERNAL_API_TOKEN` from `spec.curatorApi`), the user's `env`, and `envFrom`: the check
//! follows each variable to the Secret or ConfigMap key it comes from, as the kubelet would.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar};

use crate::crd::conditions::{Desired, Status};

/// The condition: True when every required setting is provided.
pub const SETTINGS_PROVIDED: &str = "SettingsProvided";

/// A Secret or a ConfigMap of the worker's namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A Secret, by name.
    Secret(String),
    /// A ConfigMap, by name.
    ConfigMap(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Secret(n) => write!(f, "Secret {n}"),
            Source::ConfigMap(n) => write!(f, "ConfigMap {n}"),
        }
    }
}

/// What the reconcile read of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// Its keys.
    Keys(BTreeSet<String>),
    /// It does not exist.
    Missing,
    /// It could not be read (why).
    Failed(String),
}

/// PURE: the Secrets and ConfigMaps where the `required` variables may come from (to read
/// their keys).
pub fn sources(
    required: &[String],
    env: &[EnvVar],
    env_from: &[EnvFromSource],
) -> BTreeSet<Source> {
    let mut out = BTreeSet::new();
    if required.is_empty() {
        return out;
    }
    for e in env.iter().filter(|e| required.contains(&e.name)) {
        if let Some(v) = &e.value_from {
            if let Some(s) = &v.secret_key_ref {
                out.insert(Source::Secret(s.name.clone()));
            }
            if let Some(c) = &v.config_map_key_ref {
                out.insert(Source::ConfigMap(c.name.clone()));
            }
        }
    }
    for f in env_from {
        let prefix = f.prefix.as_deref().unwrap_or_default();
        if !required.iter().any(|r| r.starts_with(prefix)) {
            continue;
        }
        if let Some(s) = &f.secret_ref {
            out.insert(Source::Secret(s.name.clone()));
        }
        if let Some(c) = &f.config_map_ref {
            out.insert(Source::ConfigMap(c.name.clone()));
        }
    }
    out
}

/// Where a variable's value comes from, or why it has none.
enum Found {
    /// It is set, from this.
    Set(String),
    /// It is not set: why.
    Unset(String),
    /// Not known: a source could not be read.
    Unknown(String),
}

fn key_in(read: &BTreeMap<Source, Read>, source: &Source, key: &str) -> Result<bool, String> {
    match read.get(source) {
        Some(Read::Keys(keys)) => Ok(keys.contains(key)),
        Some(Read::Missing) => Ok(false),
        Some(Read::Failed(why)) => Err(format!("{source} could not be read ({why})")),
        None => Err(format!("{source} was not read")),
    }
}

/// Where `name` comes from: a later `env` entry wins, and `env` wins over `envFrom` (in which
/// a later source wins), as in the kubelet.
fn find(
    name: &str,
    env: &[EnvVar],
    env_from: &[EnvFromSource],
    read: &BTreeMap<Source, Read>,
) -> Found {
    if let Some(e) = env.iter().rev().find(|e| e.name == name) {
        let Some(v) = &e.value_from else {
            return Found::Set("spec.env".into());
        };
        let (source, key, optional) = if let Some(s) = &v.secret_key_ref {
            (
                Source::Secret(s.name.clone()),
                &s.key,
                s.optional == Some(true),
            )
        } else if let Some(c) = &v.config_map_key_ref {
            (
                Source::ConfigMap(c.name.clone()),
                &c.key,
                c.optional == Some(true),
            )
        } else {
            return Found::Set("spec.env (a field of the pod)".into());
        };
        let gone = read.get(&source) == Some(&Read::Missing);
        return match key_in(read, &source, key) {
            Ok(true) => Found::Set(format!("{source}, key {key}")),
            Ok(false) if gone && !optional => Found::Unset(format!(
                "{source} does not exist: the container cannot even be created"
            )),
            Ok(false) if optional => Found::Unset(format!("{source} has no key {key} (optional)")),
            Ok(false) => Found::Unset(format!(
                "{source} has no key {key}: the container cannot even be created"
            )),
            Err(why) => Found::Unknown(why),
        };
    }
    let mut looked = Vec::new();
    for f in env_from.iter().rev() {
        let prefix = f.prefix.as_deref().unwrap_or_default();
        let Some(key) = name.strip_prefix(prefix) else {
            continue;
        };
        let source = match (&f.secret_ref, &f.config_map_ref) {
            (Some(s), _) => Source::Secret(s.name.clone()),
            (None, Some(c)) => Source::ConfigMap(c.name.clone()),
            (None, None) => continue,
        };
        match key_in(read, &source, key) {
            Ok(true) => return Found::Set(format!("{source} (envFrom), key {key}")),
            Ok(false) if read.get(&source) == Some(&Read::Missing) => {
                looked.push(format!("{source} does not exist"));
            }
            Ok(false) => looked.push(format!("{source} has no key {key}")),
            Err(why) => return Found::Unknown(why),
        }
    }
    if looked.is_empty() {
        Found::Unset("neither spec.env nor spec.envFrom provides it".into())
    } else {
        Found::Unset(format!("no env entry, and {}", looked.join(", ")))
    }
}

/// PURE: the `SettingsProvided` condition for a container with `env` (the operator's and the
/// user's, as the Deployment has it) and `env_from`, given the keys of the sources it names.
pub fn check(
    required: &[String],
    env: &[EnvVar],
    env_from: &[EnvFromSource],
    read: &BTreeMap<Source, Read>,
) -> Desired {
    let (mut set, mut unset, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for name in required {
        match find(name, env, env_from, read) {
            Found::Set(from) => set.push(format!("{name} from {from}")),
            Found::Unset(why) => unset.push(format!("{name} is not set: {why}")),
            Found::Unknown(why) => unknown.push(format!("{name}: {why}")),
        }
    }
    if !unset.is_empty() {
        return Desired::new(
            SETTINGS_PROVIDED,
            Status::False,
            "MissingSettings",
            format!(
                "{}; the worker exits at start without it (set it in spec.env or spec.envFrom, or change spec.requiredEnv)",
                unset.join("; ")
            ),
        );
    }
    if !unknown.is_empty() {
        return Desired::new(
            SETTINGS_PROVIDED,
            Status::Unknown,
            "NotChecked",
            unknown.join("; "),
        );
    }
    let message = if set.is_empty() {
        "spec.requiredEnv is empty: nothing to check".to_owned()
    } else {
        set.join("; ")
    };
    Desired::new(SETTINGS_PROVIDED, Status::True, "Provided", message)
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;

//! What `sync` did, or in a dry run would do, to one feed's schedule.

use serde::Serialize;

/// The kind of change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The schedule is created.
    Create,
    /// The spec changed: the schedule is updated.
    Update,
    /// The schedule was edited outside `sync` (UI, CLI): it is put back.
    Repair,
    /// The schedule is paused (`spec.suspend`).
    Pause,
    /// The schedule is unpaused.
    Unpause,
    /// The FeedSource is no longer declared: its schedule is deleted (`--prune`).
    Prune,
    /// Nothing to change.
    Unchanged,
    /// The schedule ID is taken by a schedule this feed does not own.
    Conflict,
    /// Temporal failed (after retries, for transient errors).
    Error,
}

impl Action {
    /// The word for a change made (`created`) or, in a dry run, planned (`create`).
    pub fn word(self, applied: bool) -> &'static str {
        match (self, applied) {
            (Action::Create, true) => "created",
            (Action::Create, false) => "create",
            (Action::Update, true) => "updated",
            (Action::Update, false) => "update",
            (Action::Repair, true) => "repaired",
            (Action::Repair, false) => "repair",
            (Action::Pause, true) => "paused",
            (Action::Pause, false) => "pause",
            (Action::Unpause, true) => "unpaused",
            (Action::Unpause, false) => "unpause",
            (Action::Prune, true) => "pruned",
            (Action::Prune, false) => "prune",
            (Action::Unchanged, _) => "unchanged",
            (Action::Conflict, _) => "conflict",
            (Action::Error, _) => "error",
        }
    }

    /// Whether the feed failed.
    pub fn failed(self) -> bool {
        matches!(self, Action::Conflict | Action::Error)
    }

    /// Whether the schedule differs (or differed) from the declaration.
    pub fn changes(self) -> bool {
        !matches!(self, Action::Unchanged | Action::Conflict | Action::Error)
    }
}

/// One field that differs between the declaration and the schedule in Temporal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// `spec.interval`, `input.fetchLimit`, `policies.catchupWindow`, …
    pub field: String,
    /// Its value in Temporal, when it is short enough to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Its declared value, when it is short enough to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl FieldChange {
    /// A field whose values are not shown.
    pub fn named(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            from: None,
            to: None,
        }
    }

    /// A field with both values.
    pub fn values(field: impl Into<String>, from: String, to: String) -> Self {
        Self {
            field: field.into(),
            from: Some(from),
            to: Some(to),
        }
    }
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.from, &self.to) {
            (Some(a), Some(b)) => write!(f, "{}: {a} → {b}", self.field),
            _ => f.write_str(&self.field),
        }
    }
}

/// What happened to a feed in buun-curator (the `feed` of a JSON line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedNote {
    /// Its ID (`None`: a dry run's feed to create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `exists`, `adopted`, `created`, `updated` (or, in a dry run, `create`, `update`).
    pub action: &'static str,
    /// For updates: the fields that differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<&'static str>,
}

impl FeedNote {
    /// Whether the feed is (or, in a dry run, would be) written.
    pub fn writes(&self) -> bool {
        matches!(self.action, "created" | "updated" | "create" | "update")
    }
}

impl std::fmt::Display for FeedNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "feed {}", self.action)?;
        if let Some(id) = &self.id {
            write!(f, " {id}")?;
        }
        if !self.changed.is_empty() {
            write!(f, " ({})", self.changed.join(", "))?;
        }
        Ok(())
    }
}

/// One feed's result: a line of text output, an object of JSON output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The FeedSource, `namespace/name`.
    pub resource: String,
    /// Its schedule ID.
    pub schedule_id: String,
    /// What was (or would be) done.
    pub action: Action,
    /// Whether the change was written (false in a dry run and for failures).
    pub applied: bool,
    /// For updates and repairs: the fields that differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// A pause `sync` did not make (Temporal's pause-on-failure, a person) that is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_pause: Option<String>,
    /// For failures: what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For failures: a stable PascalCase reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Something worth knowing that is not a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Its feed in buun-curator, when `sync` settled it there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<FeedNote>,
    /// Attempts made at Temporal (and buun-curator) calls (more than one when transient
    /// errors were retried).
    pub attempts: u32,
    /// Whether the feed is being ingested: its last run, as the controller's `Ingesting`
    /// condition says it (none for a schedule that was not listed, such as a new one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion: Option<Ingestion>,
}

impl Outcome {
    /// An outcome of `action` for `resource`'s schedule `schedule_id`, nothing else known yet.
    pub fn new(resource: &str, schedule_id: &str, action: Action) -> Self {
        Self {
            resource: resource.to_owned(),
            schedule_id: schedule_id.to_owned(),
            action,
            applied: false,
            changes: Vec::new(),
            held_pause: None,
            error: None,
            reason: None,
            warning: None,
            feed: None,
            attempts: 0,
            ingestion: None,
        }
    }

    /// A failure with its reason.
    pub fn failed(mut self, action: Action, error: String, reason: &'static str) -> Self {
        self.action = action;
        self.applied = false;
        self.error = Some(error);
        self.reason = Some(reason);
        self
    }
}

/// A feed's ingestion, as `sync` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingestion {
    /// `True`, `False` or `Unknown`, as the controller's `Ingesting` condition.
    pub status: &'static str,
    /// `RunCompleted`, `RunFailed`, `RunTimedOut`, `RunStuck`, `NeverRan`, …
    pub reason: String,
    /// What it means, quoting the failure.
    pub message: String,
    /// The last run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<crate::crd::feedsource::LastRun>,
    /// Runs in a row that failed, as far as the listing's recent runs go back.
    pub consecutive_failures: i32,
}

impl Ingestion {
    /// Whether the feed's last run failed, timed out, runs too long, or never started.
    pub fn unhealthy(&self) -> bool {
        self.status == crate::crd::conditions::Status::False.as_str()
    }
}

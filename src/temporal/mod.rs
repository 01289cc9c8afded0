//! The Temporal side: a small trait the reconcilers use, its gRPC implementation, and a pool
//! of connections keyed by address and credentials.

pub mod creds;
pub mod error;
pub mod grpc;
pub mod memo;
pub mod pace;
pub mod pool;
pub mod proto;
pub mod queue;
pub mod runs;

use std::future::Future;

pub use error::TemporalError;

use memo::MemoInfo;
use proto::{Memo, Schedule, SchedulePatch};
use temporalio_common::protos::temporal::api::schedule::v1::ScheduleInfo;

/// The RPCs that change a schedule, by their method names (as in metrics).
pub const WRITE_METHODS: [&str; 4] = [
    "CreateSchedule",
    "UpdateSchedule",
    "PatchSchedule",
    "DeleteSchedule",
];

/// A schedule as `DescribeSchedule` returns it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Described {
    /// The schedule in the server's canonical form.
    pub schedule: Schedule,
    /// Run statistics and next times.
    pub info: ScheduleInfo,
    /// The raw memo.
    pub memo: Option<Memo>,
    /// The operator's keys read from the memo.
    pub memo_info: MemoInfo,
    /// Token that makes an update fail if the schedule changed since this describe.
    pub conflict_token: Vec<u8>,
}

/// One entry of a schedule listing: the cheap read (no action, no input).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listed {
    /// Schedule ID.
    pub id: String,
    /// The owner read from the schedule memo (the action memo is not listed).
    pub memo_info: MemoInfo,
    /// The spec in the server's canonical form.
    pub spec: Option<proto::ScheduleSpec>,
    /// Whether it is paused.
    pub paused: bool,
    /// The pause note.
    pub notes: String,
    /// Next action times.
    pub future_action_times: Vec<prost_wkt_types::Timestamp>,
    /// Recent actions.
    pub recent_actions: Vec<proto::ScheduleActionResult>,
}

/// A page of a schedule listing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListPage {
    /// The schedules on this page.
    pub schedules: Vec<Listed>,
    /// Token of the next page; empty on the last one.
    pub next_page_token: Vec<u8>,
}

/// Schedule operations in one Temporal namespace.
pub trait ScheduleApi: Send + Sync {
    /// Describes a schedule; `None` when it does not exist.
    fn describe(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Described>, TemporalError>> + Send;

    /// Creates a schedule; `false` when one with this ID already exists.
    fn create(
        &self,
        id: &str,
        schedule: Schedule,
        memo: Memo,
    ) -> impl Future<Output = Result<bool, TemporalError>> + Send;

    /// Replaces a schedule's spec, action, policies and state, guarded by a conflict token from
    /// a describe. The schedule memo is left as it is (Temporal does not update it).
    fn update(
        &self,
        id: &str,
        schedule: Schedule,
        conflict_token: Vec<u8>,
    ) -> impl Future<Output = Result<(), TemporalError>> + Send;

    /// Pauses, unpauses or triggers a schedule.
    fn patch(
        &self,
        id: &str,
        patch: SchedulePatch,
        request_id: String,
    ) -> impl Future<Output = Result<(), TemporalError>> + Send;

    /// Lists one page of schedules (`page_size` at most), starting at `page_token`: those whose
    /// ID starts with `id_prefix` (all for an empty one). A server too old to filter on the ID
    /// may also return others, so callers still check each ID.
    fn list(
        &self,
        id_prefix: &str,
        page_size: i32,
        page_token: Vec<u8>,
    ) -> impl Future<Output = Result<ListPage, TemporalError>> + Send;

    /// Deletes a schedule; `false` when it did not exist.
    fn delete(&self, id: &str) -> impl Future<Output = Result<bool, TemporalError>> + Send;
}

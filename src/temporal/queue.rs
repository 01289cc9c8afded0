//! Task queue load: backlog from `DescribeTaskQueue` (with `report_stats`) over the workflow
//! and activity queues, and running workflows from a visibility count.

use std::future::Future;

use temporalio_common::protos::temporal::api::{
    enums::v1::{TaskQueueKind, TaskQueueType},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{CountWorkflowExecutionsRequest, DescribeTaskQueueRequest},
};

use super::{
    TemporalError,
    grpc::{GrpcSchedules, rpc},
};

/// What Temporal reports for a task queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLoad {
    /// Approximate tasks waiting (workflow + activity task queues).
    pub backlog: i64,
    /// Workflows still running on the queue.
    pub running: i64,
}

/// Reads a task queue's load.
pub trait QueueApi: Send + Sync {
    /// The load of `task_queue`.
    fn load(
        &self,
        task_queue: &str,
    ) -> impl Future<Output = Result<QueueLoad, TemporalError>> + Send;
}

/// The visibility query counting running workflows on `task_queue`.
pub fn running_query(task_queue: &str) -> String {
    let escaped = task_queue.replace('\\', "\\\\").replace('\'', "\\'");
    format!("TaskQueue = '{escaped}' AND ExecutionStatus = 'Running'")
}

impl QueueApi for GrpcSchedules {
    async fn load(&self, task_queue: &str) -> Result<QueueLoad, TemporalError> {
        let mut backlog = 0;
        for kind in [TaskQueueType::Workflow, TaskQueueType::Activity] {
            let req = DescribeTaskQueueRequest {
                namespace: self.namespace().to_owned(),
                task_queue: Some(TaskQueue {
                    name: task_queue.to_owned(),
                    kind: TaskQueueKind::Normal as i32,
                    normal_name: String::new(),
                }),
                task_queue_type: kind as i32,
                report_stats: true,
                ..Default::default()
            };
            let r = rpc!(self, "DescribeTaskQueue", describe_task_queue, req).await?;
            let count = r.stats.map(|s| s.approximate_backlog_count).unwrap_or(0);
            // A server's counts are not trusted to stay small: saturate, never overflow.
            backlog = sum_backlog(backlog, count);
        }
        let req = CountWorkflowExecutionsRequest {
            namespace: self.namespace().to_owned(),
            query: running_query(task_queue),
        };
        let running = rpc!(
            self,
            "CountWorkflowExecutions",
            count_workflow_executions,
            req
        )
        .await?
        .count;
        Ok(QueueLoad { backlog, running })
    }
}

/// Adds one queue type's backlog to the total: negative counts are read as 0, and the sum
/// saturates at `i64::MAX`.
fn sum_backlog(total: i64, count: i64) -> i64 {
    total.saturating_add(count.max(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backlog_sums_saturate_and_ignore_negative_counts() {
        assert_eq!(super::sum_backlog(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(super::sum_backlog(5, -3), 5);
        assert_eq!(super::sum_backlog(5, 3), 8);
    }

    use super::*;

    #[test]
    fn query_escapes_quotes() {
        assert_eq!(
            running_query("buun-curator"),
            "TaskQueue = 'buun-curator' AND ExecutionStatus = 'Running'"
        );
        assert_eq!(
            running_query("a'b"),
            "TaskQueue = 'a\\'b' AND ExecutionStatus = 'Running'"
        );
    }
}

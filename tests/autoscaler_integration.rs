//! The autoscaler against a real Temporal dev server: N workflows queued with no worker give a
//! backlog of N and ⌈N/target⌉ replicas; a worker that drains them brings the count down only
//! after `scaleDownDelay`, and never below 1 while a workflow is still running.

mod common;

use std::{
    process::{Child, Command},
    time::{Duration, Instant},
};

use common::wait;
use curator_operator::{
    temporal::{
        grpc::GrpcSchedules,
        queue::{QueueApi, QueueLoad},
    },
    worker::scaler::{self, Inputs, Params, Reason},
};
use temporalio_common::protos::temporal::api::{
    common::v1::{Payload, Payloads, WorkflowType},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::StartWorkflowExecutionRequest,
};
use tonic::IntoRequest;

const QUEUE: &str = "autoscale-q";
const N: i64 = 25;

async fn start_workflow(api: &GrpcSchedules, id: &str) {
    let mut svc = api.connection().workflow_service();
    let req = StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType {
            name: "SingleFeedIngestionWorkflow".into(),
        }),
        task_queue: Some(TaskQueue {
            name: QUEUE.into(),
            kind: 1,
            normal_name: String::new(),
        }),
        input: Some(Payloads {
            payloads: vec![Payload {
                metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
                data: format!(r#"{{"feedId":"{id}","feedName":"n","feedUrl":"https://x/{id}"}}"#)
                    .into_bytes(),
                ..Default::default()
            }],
        }),
        request_id: format!("start-{id}"),
        identity: "autoscaler-test".into(),
        ..Default::default()
    };
    svc.start_workflow_execution(req.into_request())
        .await
        .expect("start workflow");
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn backlog_drives_replicas_and_scale_down_waits() {
    let server = common::TemporalServer::start();
    let api = common::schedules(&server.address).await;
    for i in 0..N - 1 {
        start_workflow(&api, &format!("feed-{i}")).await;
    }
    start_workflow(&api, "feed-long").await;

    let params = Params {
        min: 0,
        max: 10,
        target_backlog: 10,
        feeds_per_replica: None,
        prewarm: Duration::from_secs(120),
        scale_down_delay: Duration::from_secs(3),
        poll_interval: Duration::from_millis(500),
    };
    // The backlog statistic is approximate and eventually consistent: wait for it to settle.
    let mut load = QueueLoad {
        backlog: 0,
        running: 0,
    };
    let every = Duration::from_millis(300);
    wait::until(Duration::from_secs(30), every, async || {
        load = api.load(QUEUE).await.expect("load");
        (load.backlog == N && load.running == N).then_some(())
    })
    .await;
    assert_eq!(
        load,
        QueueLoad {
            backlog: N,
            running: N
        },
        "25 queued workflows, no worker"
    );
    let now = jiff::Timestamp::now();
    let first = scaler::decide(&Inputs {
        params,
        load: Some(load),
        feeds: 0,
        next_run: None,
        current: 0,
        lower_since: None,
        now,
    });
    assert_eq!(
        (first.replicas, first.reason),
        (3, Reason::Backlog),
        "{}",
        first.message
    );
    println!(
        "TRACE t=0.0s backlog={} running={} -> desired={} reason={}",
        load.backlog,
        load.running,
        first.replicas,
        first.reason.as_str()
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/drain_worker.py");
    let _worker = Killed(
        Command::new("python3")
            .args([script, &server.address, QUEUE, "12", "60"])
            .spawn()
            .expect("python3 with temporalio"),
    );
    let mut current = first.replicas;
    let mut lower_since = None;
    let mut first_lower_wanted: Option<Instant> = None;
    let start = Instant::now();
    let mut trace = Vec::new();
    let mut saw_long_only = false;
    let drained = wait::until(Duration::from_secs(60), params.poll_interval, async || {
        let load = api.load(QUEUE).await.expect("load");
        let d = scaler::decide(&Inputs {
            params,
            load: Some(load),
            feeds: 0,
            next_run: None,
            current,
            lower_since,
            now: jiff::Timestamp::now(),
        });
        let line = format!(
            "TRACE t={:.1}s backlog={} running={} -> desired={} reason={}",
            start.elapsed().as_secs_f64(),
            load.backlog,
            load.running,
            d.replicas,
            d.reason.as_str()
        );
        if trace
            .last()
            .map(|(l, _): &(String, _)| l.split("s ").nth(1))
            != Some(line.split("s ").nth(1))
        {
            println!("{line}");
        }
        trace.push((line, d.replicas));
        if load.running > 0 {
            assert!(
                d.replicas >= 1,
                "never below 1 while a workflow runs: {}",
                d.message
            );
        }
        if d.wanted < current && first_lower_wanted.is_none() {
            first_lower_wanted = Some(Instant::now());
        }
        if d.replicas < current {
            let waited = first_lower_wanted.map(|t| t.elapsed()).unwrap_or_default();
            assert!(
                waited >= Duration::from_millis(2900),
                "scaled down after {waited:?}, before scaleDownDelay"
            );
            first_lower_wanted = None;
        }
        if load.running == 1 && d.replicas == 1 && d.reason == Reason::RunningWorkflows {
            saw_long_only = true;
        }
        current = d.replicas;
        lower_since = d.lower_since;
        (load.running == 0 && d.replicas == 0).then_some(())
    })
    .await;
    assert!(drained.is_some(), "did not drain: {trace:#?}");
    assert!(
        saw_long_only,
        "one replica held by the running workflow alone: {trace:#?}"
    );
}

"""The contract worker of the node tests: buun-curator's worker as the operator sees it, in a Pod.

Like `python -m buun_curator.worker`, it
- runs as PID 1 of its container and installs no SIGTERM handler (so the kernel drops SIGTERM),
  while SIGINT interrupts asyncio.run and the Temporal SDK shuts the worker down;
- reads TEMPORAL_HOST, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, HEALTH_PORT and
  MAX_CONCURRENT_ACTIVITIES, and serves GET /health (a DescribeNamespace within 5 s) and
  GET /ready on HEALTH_PORT;
- creates ~/.crawl4ai at import, as crawl4ai does (a read-only HOME fails here);
- logs JSON lines unless ENVIRONMENT is "development" (then coloured console text);
- registers SingleFeedIngestionWorkflow, which validates its input with buun-curator's
  SingleFeedIngestionInput model, then runs the activity crawl_single_feed with buun-curator's
  options (start-to-close 10 min, heartbeat 2 min, 3 attempts 5 s apart).

crawl_single_feed heartbeats once a second for ACTIVITY_SECONDS (default 0) and returns the
Pod it ran on (POD_NAME, else the host name) and its attempt, so a test can keep a run in flight and see where it
completed.
"""

import asyncio
import json
import os
import socket
import sys
import time
from datetime import timedelta
from typing import Any

# As crawl4ai does on import: its home directory, under HOME.
os.makedirs(os.path.join(os.path.expanduser("~"), ".crawl4ai"), exist_ok=True)

from pydantic import BaseModel, ConfigDict  # noqa: E402
from pydantic.alias_generators import to_camel  # noqa: E402
from temporalio import activity, workflow  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.common import RetryPolicy  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

# The Pod (from the downward API when the test sets POD_NAME: a hostNetwork Pod has the node's
# host name).
POD = os.environ.get("POD_NAME") or socket.gethostname()
JSON_LOGS = os.environ.get("ENVIRONMENT", "development") != "development"


def log(event: str, **fields: Any) -> None:
    """One log line: JSON, or coloured console text in development."""
    if JSON_LOGS:
        print(json.dumps({"event": event, "pod": POD, **fields}), flush=True)
    else:
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        print(f"\x1b[32m{time.strftime('%H:%M:%S')}\x1b[0m {event} {extra}", flush=True)


class SingleFeedIngestionInput(BaseModel):
    """buun-curator's input model (camelCase JSON aliases; unknown fields ignored)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    feed_id: str
    feed_name: str
    feed_url: str
    fetch_limit: int = 20
    extraction_rules: list[dict[str, Any]] | None = None
    auto_distill: bool = True
    enable_content_fetch: bool = True
    target_language: str = ""
    enable_thumbnail: bool = False
    domain_fetch_delay: float = 2.0
    parent_workflow_id: str = ""
    max_entry_age_days: int | None = None
    distillation_batch_size: int = 5
    etag: str = ""
    last_modified: str = ""


@activity.defn(name="crawl_single_feed")
async def crawl_single_feed(feed_id: str) -> dict[str, Any]:
    info = activity.info()
    seconds = float(os.environ.get("ACTIVITY_SECONDS", "0"))
    log("crawl started", feedId=feed_id, workflowId=info.workflow_id, attempt=info.attempt)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        activity.heartbeat()
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    log("crawl completed", feedId=feed_id, workflowId=info.workflow_id, attempt=info.attempt)
    return {"pod": POD, "attempt": info.attempt}


@workflow.defn(name="SingleFeedIngestionWorkflow")
class SingleFeedIngestionWorkflow:
    @workflow.run
    async def run(self, raw: dict[str, Any]) -> dict[str, Any]:
        parsed = SingleFeedIngestionInput.model_validate(raw)
        crawl = await workflow.execute_activity(
            crawl_single_feed,
            parsed.feed_id,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=5)),
        )
        return {
            "status": "completed",
            "feedId": parsed.feed_id,
            "entriesCreated": 0,
            "contentsFetched": 0,
            "entriesDistilled": 0,
            "error": None,
            "crawledOn": crawl["pod"],
            "crawlAttempt": crawl["attempt"],
        }


async def serve_health(client: Client, port: int) -> asyncio.AbstractServer:
    """GET /health: Temporal answers DescribeNamespace within 5 s; GET /ready: always OK."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode(errors="replace")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            path = line.split(" ")[1] if line.count(" ") >= 2 else "/"
            code, body = 404, "not found"
            if path == "/ready":
                code, body = 200, "OK"
            elif path == "/health":
                try:
                    await asyncio.wait_for(
                        client.workflow_service.describe_namespace(
                            DescribeNamespaceRequest(namespace=client.namespace)
                        ),
                        timeout=5.0,
                    )
                    code, body = 200, "OK"
                except Exception as e:  # noqa: BLE001 - any failure is unhealthy
                    code, body = 503, f"temporal: {e}"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[code]
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n{body}".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "0.0.0.0", port)


async def main() -> None:
    address = os.environ.get("TEMPORAL_HOST", "localhost:7233")
    namespace = os.environ.get("TEMPORAL_NAMESPACE", "default")
    task_queue = os.environ.get("TEMPORAL_TASK_QUEUE", "buun-curator")
    max_activities = int(os.environ.get("MAX_CONCURRENT_ACTIVITIES", "0")) or None
    log("connecting", temporal=address, namespace=namespace, pid=os.getpid())
    client = await Client.connect(address, namespace=namespace)
    server = await serve_health(client, int(os.environ.get("HEALTH_PORT", "8080")))
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[SingleFeedIngestionWorkflow],
        activities=[crawl_single_feed],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=max_activities,
    )
    log("worker started", taskQueue=task_queue)
    try:
        await worker.run()
    finally:
        server.close()
        log("worker stopped")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        # buun-curator's worker lets the interrupt end the process (exit status 1 with a
        # traceback); the same status, without the traceback.
        log("interrupted")
        sys.stdout.flush()
        os._exit(1)

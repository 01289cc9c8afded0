"""A stand-in for buun-curator's worker: validates SingleFeedIngestionWorkflow input with the
Pydantic model from CONTRACT.md.

Usage:
  ingestion_worker.py ADDRESS TASK_QUEUE TIMEOUT_SECONDS
      prints the validated input of the first completed run, then exits.
  ingestion_worker.py serve ADDRESS TASK_QUEUE SECONDS
      serves the queue for SECONDS. Each run ends as the input's extra field `testOutcome`
      says, the ways buun-curator's own worker ends (CONTRACT.md, "One ingestion"):
        complete (default)  returns the worker's result: 3 entries created, 3 contents fetched
        error               completes with status "error", as after a crawl that failed
        fail                fails: an activity that fails for good
        hang                an activity that fails and is retried forever, as
                            get_app_settings does on buun-curator's default settings row
        sleep               waits forever on a timer (only a timeout ends it)
"""

import asyncio
import json
import os
import sys
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker


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


@workflow.defn(name="SingleFeedIngestionWorkflow")
class SingleFeedIngestionWorkflow:
    @workflow.run
    async def run(self, raw: dict[str, Any]) -> dict[str, Any]:
        parsed = SingleFeedIngestionInput.model_validate(raw)
        return {"validated": parsed.model_dump(mode="json"), "raw": raw}


@activity.defn
async def get_app_settings() -> str:
    # buun-curator's default settings row has targetLanguage null, which its output model
    # refuses: the activity fails on every attempt.
    raise ValueError(
        "1 validation error for GetAppSettingsOutput\ntarget_language\n"
        "  Input should be a valid string [type=string_type, input_value=None]"
    )


@activity.defn
async def crawl_single_feed() -> str:
    raise ApplicationError("crawl failed: HTTP 503 from the feed", non_retryable=True)


@workflow.defn(name="SingleFeedIngestionWorkflow")
class OutcomeWorkflow:
    @workflow.run
    async def run(self, raw: dict[str, Any]) -> dict[str, Any]:
        parsed = SingleFeedIngestionInput.model_validate(raw)
        outcome = raw.get("testOutcome", "complete")
        result = {
            "feedId": parsed.feed_id,
            "feedName": parsed.feed_name,
            "status": "completed",
            "entriesCreated": 3,
            "entriesSkipped": 0,
            "contentsFetched": 3,
            "entriesDistilled": 0,
            "error": None,
            "newEntries": [],
        }
        if outcome == "error":
            result.update(status="error", entriesCreated=0, contentsFetched=0,
                          error="HTTP 503 Service Unavailable")
        elif outcome == "fail":
            await workflow.execute_activity(
                crawl_single_feed, start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RetryPolicy(maximum_attempts=3))
        elif outcome == "hang":
            await workflow.execute_activity(
                get_app_settings, start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=2)))
        elif outcome == "sleep":
            await workflow.sleep(timedelta(days=365))
        return result


async def main(address: str, task_queue: str, timeout: float) -> int:
    client = await Client.connect(address, namespace="default")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[SingleFeedIngestionWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        query = f'WorkflowType = "SingleFeedIngestionWorkflow" AND TaskQueue = "{task_queue}"'
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            async for wf in client.list_workflows(query):
                handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
                result = await asyncio.wait_for(handle.result(), timeout=timeout)
                print(json.dumps(result))
                return 0
            await asyncio.sleep(0.5)
    print("no workflow ran", file=sys.stderr)
    return 1


async def serve(address: str, task_queue: str, seconds: float) -> int:
    client = await Client.connect(address, namespace="default")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[OutcomeWorkflow],
        activities=[get_app_settings, crawl_single_feed],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        print("serving", flush=True)
        await asyncio.sleep(seconds)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        code = asyncio.run(serve(sys.argv[2], sys.argv[3], float(sys.argv[4])))
    else:
        code = asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skips interpreter finalization, where the SDK's native threads once aborted the process
    # ("PyGILState_Release ... finalizing") after the run had been read.
    os._exit(code)

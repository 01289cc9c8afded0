"""A stand-in for buun-curator's worker: validates SingleFeedIngestionWorkflow input with the
Pydantic model from CONTRACT.md, then prints the validated input of the first completed run.

Usage: ingestion_worker.py ADDRESS TASK_QUEUE TIMEOUT_SECONDS
"""

import asyncio
import json
import os
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from temporalio import workflow
from temporalio.client import Client
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


if __name__ == "__main__":
    code = asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skips interpreter finalization, where the SDK's native threads once aborted the process
    # ("PyGILState_Release ... finalizing") after the run had been read.
    os._exit(code)

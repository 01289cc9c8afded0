"""Drains a task queue: completes every SingleFeedIngestionWorkflow at once, except the one
whose ID ends in "-long", which sleeps (a durable timer) for LONG_SECONDS first.

Usage: drain_worker.py ADDRESS TASK_QUEUE LONG_SECONDS RUN_SECONDS
"""

import asyncio
import sys
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

LONG = float(sys.argv[3])


@workflow.defn(name="SingleFeedIngestionWorkflow")
class SingleFeedIngestionWorkflow:
    @workflow.run
    async def run(self, raw: dict[str, Any]) -> str:
        if workflow.info().workflow_id.endswith("-long"):
            await workflow.sleep(timedelta(seconds=LONG))
        return raw.get("feedId", "")


async def main(address: str, task_queue: str, run_seconds: float) -> None:
    client = await Client.connect(address, namespace="default")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[SingleFeedIngestionWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await asyncio.sleep(run_seconds)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[4])))

"""HTTP routes of the job API. Job ids are path parameters; every body is a RunRequest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ingress.dependencies import json_body
from ingress.jobs.protocol import JobStatusResponse, RunRequest
from ingress.jobs.service import JobService

router = APIRouter(tags=["Jobs"])


def job_service(request: Request) -> JobService:
    return request.app.state.jobs


JobServiceDep = Annotated[JobService, Depends(job_service)]
_RESPONSE = {"response_model": JobStatusResponse, "response_model_exclude_none": True}


@router.post("/run", dependencies=[Depends(json_body)], **_RESPONSE)
async def run(request: RunRequest, jobs: JobServiceDep) -> JobStatusResponse:
    """Queue a job; answers at once with its id and status IN_QUEUE."""
    return await jobs.submit(request.input)


@router.post("/runsync", dependencies=[Depends(json_body)], **_RESPONSE)
async def run_sync(request: RunRequest, jobs: JobServiceDep) -> JobStatusResponse:
    """Queue a job and wait (up to jobs.runsync_wait_s) for it to finish; answers with its status either way."""
    submitted = await jobs.submit(request.input)
    return await jobs.wait(submitted.id)


@router.get("/status/{job_id}", **_RESPONSE)
async def status(job_id: str, jobs: JobServiceDep) -> JobStatusResponse:
    return await jobs.status(job_id)


@router.post("/cancel/{job_id}", **_RESPONSE)
async def cancel(job_id: str, jobs: JobServiceDep) -> JobStatusResponse:
    """Cancel a queued or running job; a finished job is left as it is."""
    return await jobs.cancel(job_id)

"""Wire models of the job API, in RunPod's shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ingress.json_body import JsonBody

JobStatus = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"]
FINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")


class RunRequest(JsonBody):
    # RunPod clients may also send `webhook` or `policy`; they are accepted and not used.
    model_config = ConfigDict(extra="ignore")

    input: dict[str, Any] = Field(description="The job: {'operation': 'tts' | 'list_local_voices' | ..., ...}.")


class JobStatusResponse(BaseModel):
    id: str = Field(description="The job id, for /status/{id} and /cancel/{id}.")
    status: JobStatus = Field(description="IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED or CANCELLED.")
    output: dict[str, Any] | None = Field(None, description="The operation's result, once COMPLETED.")
    error: str | None = Field(None, description="Why the job FAILED.")
    progress: dict[str, Any] | None = Field(None, description="How far an IN_PROGRESS job has got, when it says.")
    delayTime: int | None = Field(None, description="Milliseconds the job waited in the queue.")
    executionTime: int | None = Field(None, description="Milliseconds the job ran.")

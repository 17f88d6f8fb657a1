"""Blocking calls from a consumer thread to the engine deployments.

Celery runs job handlers on plain threads (the adapter supports no async handlers), so engine
calls block here instead of being awaited. Waits are cut into short slices so that a cancelled
or overdue job stops early and its engine request is cancelled too.
"""

from __future__ import annotations

from collections.abc import Iterator

from ray.serve.handle import DeploymentHandle

from deployments.chatterbox.protocol import ChatterboxRequest, ReferenceAudio
from deployments.conversion.protocol import ConversionRequest
from deployments.errors import EngineError, EngineUnavailable, VoiceNotFound
from deployments.jobs.control import JobCancelled, JobControl
from deployments.jobs.protocol import JobFailed
from deployments.kokoro.protocol import SpeechRequest, VoiceInfo
from deployments.protocol import AudioChunk, SynthesisResult

WAIT_SLICE_S = 0.5


def _engine_error(error: Exception) -> EngineError | None:
    """Ray wraps what a replica raises; find the engine's own error, if it was one."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, EngineError):
        return cause
    return error if isinstance(error, EngineError) else None


def _job_failure(error: Exception, voice: str | None) -> JobFailed | None:
    """Invalid requests and an engine that cannot load fail the job; None: a failure to retry."""
    engine_error = _engine_error(error)
    if isinstance(engine_error, VoiceNotFound) and voice is not None:
        return JobFailed(f"Voice '{voice}' not found in any library")
    if engine_error is not None and (engine_error.status_code < 500 or isinstance(engine_error, EngineUnavailable)):
        return JobFailed(engine_error.message)
    return None


class EngineCalls:
    """Blocking calls on one engine deployment's handle, cut short when the job is cancelled or overdue."""

    def __init__(self, handle: DeploymentHandle):
        self._handle = handle

    def _call(self, method: str, *args, control: JobControl, voice: str | None = None):
        return self._wait(getattr(self._handle, method).remote(*args), control, voice)

    def _stream(self, request, control: JobControl, voice: str | None = None) -> Iterator[AudioChunk]:
        chunks = self._handle.options(stream=True).stream.remote(request)
        try:
            for chunk in chunks:
                yield chunk
                control.check()
        except (JobFailed, JobCancelled):
            raise
        except Exception as error:
            if (failure := _job_failure(error, voice)) is None:
                raise
            raise failure from error
        finally:
            chunks.cancel()  # stopped early (or done): the engine drops what it has not started

    def _wait(self, response, control: JobControl, voice: str | None = None):
        try:
            while True:
                try:
                    return response.result(timeout_s=WAIT_SLICE_S)
                except TimeoutError:
                    control.check()
        except (JobFailed, JobCancelled):
            response.cancel()
            raise
        except Exception as error:
            if (failure := _job_failure(error, voice)) is None:
                raise
            raise failure from error


class KokoroCalls(EngineCalls):
    def __init__(self, handle: DeploymentHandle):
        super().__init__(handle)
        self._default_voice: str | None = None

    def voices(self, control: JobControl) -> list[VoiceInfo]:
        return self._call("voices", control=control)

    def default_voice(self, control: JobControl) -> str:
        if self._default_voice is None:
            self._default_voice = self._call("default_voice", control=control)
        return self._default_voice

    def synthesize(self, request: SpeechRequest, control: JobControl) -> SynthesisResult:
        return self._call("synthesize", request, control=control, voice=request.voice)

    def stream(self, request: SpeechRequest, control: JobControl) -> Iterator[AudioChunk]:
        return self._stream(request, control, request.voice)


class ChatterboxCalls(EngineCalls):
    def prepare_voice(self, clip: ReferenceAudio, max_reference_duration_sec: float, control: JobControl) -> bytes:
        return self._call("prepare_voice", clip, max_reference_duration_sec, control=control)

    def synthesize(self, request: ChatterboxRequest, control: JobControl) -> SynthesisResult:
        return self._call("synthesize", request, control=control)

    def stream(self, request: ChatterboxRequest, control: JobControl) -> Iterator[AudioChunk]:
        return self._stream(request, control)


class ConversionCalls(EngineCalls):
    def convert(self, request: ConversionRequest, control: JobControl) -> SynthesisResult:
        return self._call("convert", request, control=control)

"""Configuration of the Kokoro deployment, read from the serve config's `args`.

Relative paths are from the data root (ground/paths.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ground import paths

OPENAI_ALIASES_FILE = Path("voices/openai_aliases.json")


def openai_voice_aliases() -> dict[str, str]:
    """OpenAI's voice names mapped to the bundled packs: data in voices/ under the data root (voices/README.md)."""
    path = paths.resolve(OPENAI_ALIASES_FILE)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"kokoro.voice_aliases: {path} is missing; run from the project directory, set "
                         f"${paths.DATA_ROOT_ENV} to it, or give voice_aliases in the serve config") from None


class KokoroSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["onnx", "torch"] = Field("onnx", description="Inference backend: onnxruntime or PyTorch KModel.")
    weights_dir: Path | None = Field(None, description="torch: official kokoro-v1_0.pth + config.json, if any "
                                     "(otherwise weights converted from the ONNX model into cache_dir).")
    half: bool = Field(False, description="torch: run the decoder in float16 (for GPUs).")
    decoder_batch: int = Field(0, ge=0, description="torch: items per decoder pass (0: the whole batch on a GPU, "
                               "one at a time on a CPU).")
    cache_dir: Path | None = Field(None, description="Where the assembled model is kept (default ~/.cache/chorus).")
    float_convs: bool = Field(True, description="Run the int8 model's convolutions in float32 (faster on CPUs).")
    intra_op_threads: int = Field(0, ge=0, description="Threads per inference (0: every core).")
    shared_intra_op_threads: int = Field(
        1, ge=0, description="Threads per inference while another runs beside it in this replica (0: as "
        "intra_op_threads). On a CPU, two passes of one thread each get more done than two that split the "
        "cores between them; an inference alone keeps intra_op_threads.")
    inference_workers: int = Field(1, ge=1, description="Pieces run at the same time in one replica.")
    opening_workers: int = Field(1, ge=0, description="More threads that run only requests' first pieces, so that "
                                 "a new stream's first audio never waits for another stream's long piece.")
    providers: list[str] = Field(["CPUExecutionProvider"], description="onnxruntime execution providers, in order.")
    voice_dirs: list[Path] = Field([Path("voices/kokoro")], validate_default=True,
                                   description="Extra voice packs (.pt or .npy).")
    voice_aliases: dict[str, str] = Field(default_factory=openai_voice_aliases, description="Alias -> pack name "
                                          "(default: OpenAI's voice names).")
    default_voice: str = Field("jf_alpha", description="Voice used when a request names none.")
    sentence_pause_s: float = Field(0.15, ge=0, le=2, description="Silence after each sentence.")
    stream_first_piece_tokens: int = Field(12, ge=8, description="Phoneme tokens in a stream's first piece.")

    @field_validator("weights_dir", "cache_dir")
    @classmethod
    def _relative_to_data_root(cls, path: Path | None) -> Path | None:
        return None if path is None else paths.resolve(path)

    @field_validator("voice_dirs")
    @classmethod
    def _dirs_relative_to_data_root(cls, dirs: list[Path]) -> list[Path]:
        return [paths.resolve(d) for d in dirs]


class BatchingConfig(BaseModel):
    """The Kokoro deployment's `user_config`: changes apply to running replicas, no redeploy."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(16, ge=1, le=256, description="torch: most pieces in one forward pass.")
    batch_wait_timeout_s: float = Field(0.01, ge=0, le=1, description="torch: how long a piece waits for company.")

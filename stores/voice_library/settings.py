"""Where the voice library lives and what a cloning upload may be, from the serve config's `args`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ground import paths


class VoiceLibrarySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root: Path = Field(Path("data/voices"), validate_default=True, description="Directory every replica shares "
                       "(a shared volume in a cluster); relative paths are from the data root.")
    max_upload_bytes: int = Field(10 * 2**20, ge=1024, description="Largest reference clip or conversion input.")
    min_clone_s: float = Field(5, gt=0, description="Shortest reference clip for cloning.")
    max_clone_s: float = Field(60, gt=0, description="Longest reference clip for cloning (15-30 s works best).")
    sample_text: str = Field("Hello! This is my new voice. How does it sound?", min_length=1,
                             description="What the short sample of a new voice says.")

    @field_validator("root")
    @classmethod
    def _relative_to_data_root(cls, root: Path) -> Path:
        return paths.resolve(root)

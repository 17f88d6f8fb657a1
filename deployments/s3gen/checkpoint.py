"""Where a checkpoint with S3Gen's weights comes from: a local directory, or a download from the hub.

Every S3Gen-based engine (Chatterbox, its Turbo and Multilingual siblings, voice conversion) finds its
files through `locate`; each names the files it needs.
"""

from __future__ import annotations

from pathlib import Path

S3GEN_WEIGHTS = "s3gen.safetensors"
BUILTIN_VOICE = "conds.pt"  # a checkpoint's own voice (Conditionals.save), optional


class CheckpointMissing(Exception):
    """No usable checkpoint; the message says why, worded for /health."""


def locate(local: Path | None, repo_id: str | None, files: tuple[str, ...]) -> Path:
    """`local` if it holds `files`, else a download of them from `repo_id` if one is set."""
    problem = "no checkpoint_dir"
    if local is not None:
        missing = [name for name in files if not (local / name).is_file()]
        if not missing:
            return local
        problem = f"checkpoint_dir {local} lacks {', '.join(missing)}"
    if repo_id is None:
        raise CheckpointMissing(problem)
    try:
        return download(repo_id, files)
    except Exception as exc:
        raise CheckpointMissing(f"{problem}, and downloading {repo_id} failed: {exc}") from exc


def download(repo_id: str, files: tuple[str, ...]) -> Path:
    """Fetch checkpoint files from the Hugging Face hub into its cache; return the local directory."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    paths = [Path(hf_hub_download(repo_id=repo_id, filename=name)) for name in files]
    try:
        hf_hub_download(repo_id=repo_id, filename=BUILTIN_VOICE)
    except EntryNotFoundError:
        pass  # a checkpoint without a built-in voice is still whole
    return paths[0].parent

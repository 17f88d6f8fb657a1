"""README text that is derived from the code, so that a test can hold the two together."""

from __future__ import annotations

from typing import get_args

from annotated_types import Ge, Le

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, SAMPLING_FIELDS, ChatterboxParams

SHARED_FIELDS = ("seed", "chunk_size", "no_watermark")  # every Chatterbox model uses these


def _bounds(name: str) -> str:
    field = ChatterboxParams.model_fields[name]
    metadata = list(field.metadata)
    for part in get_args(field.annotation):  # an optional field: the bounds sit on its Annotated member
        for info in getattr(part, "__metadata__", ()):
            metadata += getattr(info, "metadata", [])
    low = next((m.ge for m in metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, Le)), None)
    return f"{low:,} to {high:,}" if low is not None and high is not None else "true / false"


def chatterbox_field_table() -> str:
    """Which field each Chatterbox model uses, with its bounds and each model's default (ChatterboxParams and
    CHATTERBOX_MODELS, the one parameter source)."""
    specs = list(CHATTERBOX_MODELS.values())
    rows = ["| field | bounds | " + " | ".join(f"`{spec.name}`" for spec in specs) + " |",
            "|---|---|" + "---|" * len(specs)]
    for name in (*SAMPLING_FIELDS, *SHARED_FIELDS):
        cells = []
        for spec in specs:
            value = getattr(spec.defaults, name)
            used = name in spec.uses or name in SHARED_FIELDS
            cells.append(("unset" if value is None else f"{value:g}" if isinstance(value, float) else str(value).lower())
                         if used else "ignored")
        rows.append(f"| `{name}` | {_bounds(name)} | " + " | ".join(cells) + " |")
    languages = [f"{len(spec.languages)} codes" if spec.languages else "English only" for spec in specs]
    rows.append("| `language` | ISO 639-1 | " + " | ".join(languages) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(chatterbox_field_table())

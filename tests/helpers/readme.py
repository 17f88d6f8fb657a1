"""README text that is derived from the code, so that a test can hold the two together."""

from __future__ import annotations

from annotated_types import Ge, Le

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, SAMPLING_FIELDS, ChatterboxParams
from tests.helpers.parameters import bounds_of

SHARED_FIELDS = ("seed", "chunk_size", "no_watermark")  # every Chatterbox model uses these


def _bounds(name: str) -> str:
    bounds = bounds_of(ChatterboxParams.model_fields[name])
    low = next((bound.ge for bound in bounds if isinstance(bound, Ge)), None)
    high = next((bound.le for bound in bounds if isinstance(bound, Le)), None)
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

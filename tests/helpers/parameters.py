"""A parameter as the wire models declare it, read back from its type: for the parity test and the README's table."""

from __future__ import annotations

import types
from typing import Annotated, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

BOUNDS = (Ge, Gt, Le, Lt)


def declared(declaration) -> tuple[object, list]:
    """The base type and the validation items (bounds, lengths, validators) of an annotated type, an optional one
    or a model's field. Descriptions are left out: a dialect may word its field as it likes."""
    if isinstance(declaration, FieldInfo):
        base, items = declaration.annotation, list(declaration.metadata)
    else:
        base, items = declaration, []
    if get_origin(base) in (Union, types.UnionType):  # an optional field: what it is when it is set
        (base,) = [member for member in get_args(base) if member is not type(None)]
    if get_origin(base) is Annotated:
        for info in base.__metadata__:
            items += info.metadata if isinstance(info, FieldInfo) else [info]
        base = base.__origin__
    return base, items


def bounds_of(declaration) -> list:
    """Its numeric bounds (annotated_types Ge, Gt, Le, Lt)."""
    return [item for item in declared(declaration)[1] if isinstance(item, BOUNDS)]

"""The key/value cache of a running T3 batch: one buffer pair per layer, one row per decoded stream.

Row r holds its stream's keys and values left-aligned in columns [0, length[r]); rows [0, rows)
are live. Attention masks out the columns past each row's length, so rows of different lengths
share a buffer without padding the sequences themselves. A row that leaves is filled by the last
live row (one row copied per layer), so the live rows stay a contiguous block that the decode step
runs on without gathering.
"""

from __future__ import annotations

import torch

ROW_GRANULE = 4  # buffers grow by whole granules, so a few joins in a row do not reallocate each time
COLUMN_GRANULE = 128


def _round_up(value: int, granule: int) -> int:
    return -(-value // granule) * granule


class RowCache:
    def __init__(self, layers: int, heads: int, head_dim: int, dtype: torch.dtype, device: torch.device | str):
        self._shape = (layers, heads, head_dim)
        self._dtype, self._device = dtype, device
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.lengths: list[int] = []  # per live row, on the host: the decode loop never waits on the device for it
        self._step: tuple[torch.Tensor, torch.Tensor, int] | None = None

    @property
    def rows(self) -> int:
        return len(self.lengths)

    @property
    def capacity(self) -> tuple[int, int]:
        """(rows, columns) the buffers hold now."""
        return (self.keys[0].shape[0], self.keys[0].shape[2]) if self.keys else (0, 0)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.keys + self.values)

    def footprint(self, rows: int, columns: int, empty: bool = False) -> int:
        """Row-columns the buffers would hold after `reserve(rows, columns)` (from empty ones if `empty`)."""
        have_rows, have_columns = (0, 0) if empty else self.capacity
        return max(have_rows, _round_up(rows, ROW_GRANULE)) * max(have_columns, _round_up(columns, COLUMN_GRANULE))

    def reserve(self, rows: int, columns: int) -> None:
        """Grow the buffers (keeping their contents) to hold at least `rows` rows of `columns` columns."""
        have_rows, have_columns = self.capacity
        if rows <= have_rows and columns <= have_columns:
            return
        rows = max(have_rows, _round_up(rows, ROW_GRANULE))
        columns = max(have_columns, _round_up(columns, COLUMN_GRANULE))
        layers, heads, head_dim = self._shape

        def grown(old: torch.Tensor | None) -> torch.Tensor:
            new = torch.zeros(rows, heads, columns, head_dim, dtype=self._dtype, device=self._device)
            if old is not None:
                new[:have_rows, :, :have_columns] = old
            return new

        self.keys = [grown(self.keys[i] if self.keys else None) for i in range(layers)]
        self.values = [grown(self.values[i] if self.values else None) for i in range(layers)]

    def release(self) -> None:
        """Free the buffers (an idle batch holds no memory)."""
        self.keys, self.values, self.lengths = [], [], []

    def add(self, keys: list[torch.Tensor], values: list[torch.Tensor]) -> range:
        """Append rows from a prefill: per layer (rows, heads, columns, head_dim). Returns their indices."""
        added, columns = keys[0].shape[0], keys[0].shape[2]
        self.reserve(self.rows + added, columns)
        rows = range(self.rows, self.rows + added)
        for layer, (k, v) in enumerate(zip(keys, values)):
            self.keys[layer][rows.start:rows.stop, :, :columns] = k
            self.values[layer][rows.start:rows.stop, :, :columns] = v
        self.lengths += [columns] * added
        return rows

    def remove(self, rows: list[int]) -> list[tuple[int, int]]:
        """Drop `rows`; the last live rows move into the holes. Returns the (from, to) moves made."""
        leaving = set(rows)
        keep = self.rows - len(leaving)
        holes = sorted(r for r in leaving if r < keep)
        movers = [r for r in range(keep, self.rows) if r not in leaving]
        moves = list(zip(movers, holes))
        for source, target in moves:
            for buffers in (self.keys, self.values):
                for layer in buffers:
                    layer[target] = layer[source]
            self.lengths[target] = self.lengths[source]
        del self.lengths[keep:]
        return moves

    def begin_step(self) -> torch.Tensor:
        """Start a decode step; returns the (rows, 1, 1, columns) mask of what each row attends to:
        its cache and the column this step adds."""
        at = torch.tensor(self.lengths, dtype=torch.long, device=self._device)
        end = max(self.lengths) + 1
        self._step = (torch.arange(self.rows, device=self._device), at, end)
        return (torch.arange(end, device=self._device)[None, :] <= at[:, None])[:, None, None, :]

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's column for every live row (keys/values: (rows, heads, 1, head_dim)) at
        each row's length; return the layer's live keys and values up to the longest row."""
        live, at, end = self._step
        self.keys[layer][live, :, at] = keys[:, :, 0]
        self.values[layer][live, :, at] = values[:, :, 0]
        return self.keys[layer][:self.rows, :, :end], self.values[layer][:self.rows, :, :end]

    def end_step(self) -> None:
        """Every live row gained the column `write` stored."""
        self.lengths = [n + 1 for n in self.lengths]
        self._step = None

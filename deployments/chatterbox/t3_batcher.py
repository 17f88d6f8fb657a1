"""Continuous batching of T3 decode: one engine loop per replica runs every live stream's next token in
one forward pass.

Each generated chunk of text is a stream of one row (no guidance) or two (a conditional row and an
unconditional one for classifier-free guidance). A stream that arrives is prefilled on its own and
joins at the next step; a stream that emits its stop token, reaches its cap or is cancelled leaves
at once, and its cache rows are freed (RowCache.remove) while the others go on undisturbed.

Admission waits, never fails, while the batch is full: at most `max_batch_rows` rows, and a cache
of at most `kv_cache_tokens` row-columns (the buffer is rows x longest reservation, so the bound
is on memory actually allocated). A stream that could never fit fails at once.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from deployments.chatterbox.limits import T3Limits
from deployments.chatterbox.t3_decoder import decoder_for
from deployments.chatterbox.t3_sampling import Sampling, StreamDraws, next_tokens
from ground.batch_loop import BatchLoop
from ground.errors import InvalidRequest
from ground.futures import settle

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class T3Stream:
    """One chunk to decode: its prompt rows (conditional first, then the unconditional one when
    guided), how it samples, and its seed (None: a fresh draw)."""

    prompt: torch.Tensor  # (1 or 2, tokens, dim) input embeddings, ending in the start-of-speech embedding
    sampling: Sampling
    seed: int | None = None
    max_new_tokens: int | None = None  # None: the batcher's limit; never above it

    @property
    def guided(self) -> bool:
        return self.prompt.shape[0] == 2


@dataclass(eq=False)  # compared by identity: a stream is one object in the loop's lists
class _Live:
    stream: T3Stream
    future: Future
    draws: StreamDraws
    cap: int  # most tokens it may produce
    reserved: int  # cache columns it may fill: prompt plus cap
    position: int  # rotary position of the next input token
    rows: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)


class T3Batcher(BatchLoop[T3Stream, list]):
    """Continuous batching of T3's decode: a stream joins the running batch at the next step and leaves when
    it ends. Futures hold a stream's speech tokens (1-D, stop token excluded); cancel one to free its rows."""

    thread_name = "t3-batcher"

    def __init__(self, t3, limits: T3Limits):
        self._t3 = t3
        self._decoder = decoder_for(t3)
        self._cache = self._decoder.new_cache()
        self._limits = limits
        self._live: list[_Live] = []
        self.steps = 0  # decode steps run (tests and the benchmark read it)
        self.peak_rows = 0
        self._start()

    def configure(self, limits: T3Limits) -> None:
        """New limits, from the next admission on (live streams keep the cap they joined with)."""
        with self._wake:
            self._limits = limits
            self._wake.notify()

    @property
    def limits(self) -> T3Limits:
        return self._limits

    @property
    def live_rows(self) -> int:
        """Cache rows the streams in the batch hold: one a stream, two a guided one."""
        return self._cache.rows

    @property
    def cache_bytes(self) -> int:
        """Memory the KV cache holds now (nothing while idle)."""
        return self._cache.nbytes

    # -- the engine loop -----------------------------------------------------------------------

    def _busy(self) -> bool:
        return bool(self._live)

    def _take(self) -> list[tuple[T3Stream, Future]]:
        return self._admissible()

    def _run(self, arrivals: list[tuple[T3Stream, Future]]) -> None:
        try:
            with torch.inference_mode():
                for stream, future in arrivals:
                    self._join(stream, future)
                self._leave([live for live in self._live if live.future.cancelled()])
                if self._live:
                    self._step()
        except Exception as exc:  # a failed pass fails the streams in it, not the replica
            logger.exception("T3 decode step failed")
            for live in self._live:
                settle(live.future, exception=exc)
            self._live.clear()
            self._cache.release()
        if not self._live:
            self._cache.release()

    def _abandon(self) -> None:
        for live in self._live:
            live.future.cancel()

    def _cap(self, stream: T3Stream) -> int:
        return min(stream.max_new_tokens or self._limits.max_new_tokens, self._limits.max_new_tokens)

    def _admissible(self) -> list[tuple[T3Stream, Future]]:
        """Waiting streams that fit now, in arrival order (called under the lock)."""
        admitted = []
        rows = self.live_rows
        columns = max((live.reserved for live in self._live), default=0)
        budget = self._limits.kv_cache_tokens
        while self._waiting:
            stream, future = self._waiting[0]
            if future.cancelled():
                self._waiting.popleft()
                continue
            need_rows, need_columns = stream.prompt.shape[0], stream.prompt.shape[1] + self._cap(stream)
            if self._cache.footprint(need_rows, need_columns, empty=True) > budget:
                self._waiting.popleft()
                settle(future, exception=InvalidRequest(
                    f"a chunk needs more than the KV cache budget of {budget} tokens: use a smaller chunk_size",
                    param="chunk_size"))
                continue
            wanted_rows, wanted_columns = rows + need_rows, max(columns, need_columns)
            if wanted_rows > self._limits.max_batch_rows or self._cache.footprint(wanted_rows, wanted_columns) > budget:
                break  # first come, first served: it waits for streams to leave
            self._waiting.popleft()
            admitted.append((stream, future))
            rows, columns = wanted_rows, wanted_columns
        return admitted

    def _join(self, stream: T3Stream, future: Future) -> None:
        if future.cancelled():
            return
        cap = self._cap(stream)
        tokens = stream.prompt.shape[1]
        logits, keys, values = self._decoder.prefill(stream.prompt)
        live = _Live(stream, future, StreamDraws(logits.shape[-1], self._t3.hp.start_speech_token, stream.seed,
                                                 logits.device), cap, tokens + cap, tokens)
        self._cache.reserve(self.live_rows + len(logits), live.reserved)
        live.rows = list(self._cache.add(keys, values))
        self._live.append(live)
        self.peak_rows = max(self.peak_rows, self.live_rows)
        (first,) = self._sample([live], logits[:1], logits[-1:])
        if self._record(live, first):
            self._leave([live])

    def _step(self) -> None:
        rows = self.live_rows
        last = torch.zeros(rows, dtype=torch.long)
        positions = torch.zeros(rows, 1, dtype=torch.long)
        speech_index = torch.zeros(rows, dtype=torch.long)
        for live in self._live:
            for row in live.rows:
                last[row], positions[row], speech_index[row] = live.tokens[-1], live.position, len(live.tokens)
        device = self._t3.device
        logits = self._decoder.decode(self._cache, last.to(device), speech_index.to(device), positions.to(device))
        self.steps += 1
        for live in self._live:
            live.position += 1
        sampled = self._sample(self._live, logits[[live.rows[0] for live in self._live]],
                               logits[[live.rows[-1] for live in self._live]])
        self._leave([live for live, token in zip(list(self._live), sampled) if self._record(live, token)])

    @staticmethod
    def _sample(lives: list[_Live], cond: torch.Tensor, uncond: torch.Tensor) -> list[int]:
        return next_tokens(cond, uncond, [live.stream.sampling for live in lives],
                           [live.draws for live in lives]).tolist()

    def _record(self, live: _Live, token: int) -> bool:
        """Keep a sampled token; True when the stream is done (its future then holds its tokens)."""
        done = token == self._t3.hp.stop_speech_token
        if not done:
            live.tokens.append(token)
            done = len(live.tokens) >= live.cap
        if done:
            settle(live.future, torch.tensor(live.tokens, dtype=torch.long))
        return done

    def _leave(self, lives: list[_Live]) -> None:
        if not lives:
            return
        moves = dict(self._cache.remove([row for live in lives for row in live.rows]))
        self._live = [live for live in self._live if live not in lives]
        for live in self._live:
            live.rows = [moves.get(row, row) for row in live.rows]

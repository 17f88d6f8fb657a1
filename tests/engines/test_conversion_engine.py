"""Voice conversion without Ray: long input in pieces, batched S3Gen passes (on the random-weight
checkpoint), and the engine without a checkpoint."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from deployments.conversion.deployment import ConversionDeployment
from deployments.conversion.engine import ConversionEngine
from deployments.conversion.pieces import FADE_SEC, OVERLAP_SEC, PAUSE_SEARCH_SEC, crossfade_join, split_at_pauses
from deployments.conversion.settings import ConversionSettings
from deployments.s3gen.limits import S3GenLimits
from ground.errors import EngineUnavailable
from tests.helpers.chatterbox_checkpoint import harmonic_clip
from tests.helpers.chatterbox_engines import restored_limits
from tests.helpers.settings import S3GEN_STEPS

RATE = 16_000


def babble(seconds: float, pauses: list[float]) -> np.ndarray:
    """Loud noise with 0.3 s near-silent gaps starting at `pauses` (seconds)."""
    audio = (0.3 * np.random.default_rng(0).standard_normal(int(seconds * RATE))).astype(np.float32)
    for start in pauses:
        audio[int(start * RATE):int((start + 0.3) * RATE)] *= 0.001
    return audio


def test_short_input_is_one_piece():
    assert split_at_pauses(babble(19.9, []), RATE, 20) == [(0, int(19.9 * RATE))]


def test_long_input_is_cut_in_its_pauses_into_overlapping_pieces():
    pauses = [21.2, 42.9]
    audio = babble(65, pauses)
    spans = split_at_pauses(audio, RATE, 25)
    assert len(spans) == 3 and spans[0][0] == 0 and spans[-1][1] == len(audio)
    for (_, end), (start, _), pause in zip(spans, spans[1:], pauses, strict=False):
        cut = (start + end) / 2
        assert pause * RATE <= cut <= (pause + 0.3) * RATE  # in the gap
        assert end - start == int(OVERLAP_SEC * RATE)
    assert all(end - start <= (25 + 2 * PAUSE_SEARCH_SEC + OVERLAP_SEC) * RATE for start, end in spans)


def test_without_pauses_the_cuts_stay_near_even_spots():
    audio = babble(50, [])
    spans = split_at_pauses(audio, RATE, 20)
    assert len(spans) == 3
    for (_, end), (start, _), even in zip(spans, spans[1:], (50 / 3, 100 / 3), strict=False):
        assert abs((start + end) / 2 / RATE - even) <= PAUSE_SEARCH_SEC + 0.02


def test_overlapping_pieces_join_back_into_the_input():
    audio = babble(50, [20, 33])
    spans = split_at_pauses(audio, RATE, 20)
    joined = crossfade_join([audio[start:end] for start, end in spans], [start for start, _ in spans], len(audio), RATE)
    np.testing.assert_allclose(joined, audio, atol=1e-6)


def test_the_crossfade_has_no_step_between_different_pieces():
    t = np.arange(RATE) / RATE
    low, high = np.sin(2 * np.pi * 110 * t).astype(np.float32), 0.5 * np.sin(2 * np.pi * 170 * t + 1).astype(np.float32)
    overlap = int(OVERLAP_SEC * RATE)
    joined = crossfade_join([low, high], [0, RATE - overlap], 2 * RATE - overlap, RATE)
    # Largest sample-to-sample step of either piece alone, plus a little for the fade's slope.
    own_step = max(np.abs(np.diff(low)).max(), np.abs(np.diff(high)).max())
    assert np.abs(np.diff(joined)).max() <= 1.1 * own_step
    fade_start = RATE - int(FADE_SEC * RATE)
    np.testing.assert_array_equal(joined[:fade_start], low[:fade_start])  # the later piece's fade-in is never heard
    np.testing.assert_array_equal(joined[RATE:], high[overlap:])


def test_without_a_checkpoint_the_engine_is_unavailable_with_its_reason(tmp_path):
    engine = ConversionEngine(ConversionSettings())
    assert not engine.available and engine.device is None
    assert "checkpoint" in engine.reason
    calls = [
        lambda: engine.convert(np.zeros(16_000, np.float32), 16_000, {}),
        lambda: engine.reference_target(np.zeros(24_000, np.float32), 24_000),
        lambda: engine.library_target("v1", lambda: b""),
        lambda: engine.sr,
    ]
    for call in calls:
        with pytest.raises(EngineUnavailable, match="checkpoint"):
            call()
    incomplete = ConversionEngine(ConversionSettings(checkpoint_dir=tmp_path))
    assert not incomplete.available and "s3gen.safetensors" in incomplete.reason


@pytest.fixture
def engine(conversion_engine) -> ConversionEngine:
    """The engine tier's conversion engine (tests/engines/conftest.py: pieces of 5 s, the suite's S3Gen steps), loaded
    once; its batch limits are put back after each test."""
    with restored_limits(conversion_engine):
        yield conversion_engine


def test_the_pieces_of_a_long_input_share_a_pass_and_match_serial_conversion(engine):
    assert engine.settings.piece_sec == 5
    passes = len(engine.s3gen_batcher.batch_sizes)  # the shared engine's passes before this test's
    target = engine.reference_target(harmonic_clip(1.0, 24_000, f0=150), 24_000)
    speech = babble(5.4, [2.5])
    engine.configure(S3GenLimits(s3gen_max_batch=1))
    serial, pieces = engine.convert(speech, RATE, target, no_watermark=True)
    assert pieces == 2 and engine.s3gen_batcher.batch_sizes[passes:] == [1, 1]
    engine.configure(S3GenLimits(s3gen_max_batch=8))
    batched, _ = engine.convert(speech, RATE, target, no_watermark=True)
    assert engine.s3gen_batcher.batch_sizes[passes + 2:] == [2]  # both pieces in one pass
    assert len(batched) == len(serial) == round(5.4 * 24_000)
    assert np.corrcoef(serial, batched)[0, 1] > 0.999


def test_an_abandoned_conversion_renders_no_more_of_its_pieces(engine):
    passes = len(engine.s3gen_batcher.batch_sizes)
    engine.configure(S3GenLimits(s3gen_max_batch=1))
    target = engine.reference_target(harmonic_clip(1.0, 24_000, f0=150), 24_000)
    speech = babble(11, [3.5, 7.2])
    in_flight = engine.convert_pieces(speech, RATE, target, no_watermark=True)
    first = next(in_flight)
    assert (first.index, first.count, first.start) == (0, 3, 0)
    in_flight.cancel()  # the second piece is already in its pass; the third never starts
    probe = engine.s3gen_batcher.submit(engine._ready().s3gen_item(speech[:RATE], target))
    probe.result(timeout=300)
    assert engine.s3gen_batcher.batch_sizes[passes:] == [1, 1, 1]  # the first two pieces, then the probe


def test_torch_threads_override_what_ray_gave_the_replica(tmp_path):
    """A replica reserving a tenth of a CPU gets OMP_NUM_THREADS=1 from Ray; torch_threads sets torch's own."""
    import torch

    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2
    try:
        engine = ConversionEngine(ConversionSettings(checkpoint_dir=tmp_path, torch_threads=wanted))
        assert not engine.available  # no weights there: the threads are set before the model would load
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


def test_the_deployment_shell_reports_health_and_applies_its_user_config(engine, chatterbox_checkpoint, tmp_path):
    """The shell both S3Gen deployments share, without Ray: health in S3Gen's batching terms, the user_config
    applied to the running batcher, and an engine without its checkpoint reported with its reason.

    The ready shell is the deployment's class over the session's loaded engine (its `_engine` hook, which
    would load the same checkpoint's S3Gen again); the unavailable one builds its engine as deployed."""

    class OverTheLoadedEngine(ConversionDeployment.func_or_class):
        def _engine(self, settings: ConversionSettings) -> ConversionEngine:
            assert settings.checkpoint_dir == engine.settings.checkpoint_dir
            assert settings.s3gen_steps == engine.settings.s3gen_steps
            return engine

    shell = ConversionDeployment.func_or_class
    ready = OverTheLoadedEngine({"checkpoint_dir": str(chatterbox_checkpoint), "s3gen_steps": S3GEN_STEPS},
                                tmp_path / "library")
    ready.reconfigure({"s3gen_max_batch": 3, "s3gen_max_batch_frames": 700})
    health = asyncio.run(ready.health())
    assert (health.engine, health.status, health.reason) == ("conversion", "ready", None)
    assert health.batching == {"s3gen_items_per_pass": 3, "s3gen_frames_per_pass": 700}
    assert health.user_config == {"s3gen_max_batch": 3, "s3gen_max_batch_frames": 700}
    missing = asyncio.run(shell({"checkpoint_dir": str(tmp_path)}, tmp_path / "library").health())
    assert missing.status == "unavailable" and "s3gen.safetensors" in missing.reason and missing.batching == {}

"""VoiceCatalog: bundled packs, extra pack files, blends and aliases."""

import numpy as np
import pytest

from deployments.kokoro import weights
from deployments.kokoro.voices import PACK_SHAPE, VoiceCatalog
from ground.errors import InvalidRequest, UnknownVoice


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    extra = tmp_path_factory.mktemp("voices")
    np.save(extra / "xx_custom.npy", np.full(PACK_SHAPE, 0.5, np.float32))
    return VoiceCatalog.load(weights.bundled_voice_packs_file(), [extra], {"alloy": "jf_alpha"})


def test_bundled_and_extra_packs(catalog):
    assert {"jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo", "xx_custom"} <= set(catalog.names())
    assert catalog.resolve("xx_custom").shape == PACK_SHAPE


def test_weighted_blend_is_the_weighted_mean(catalog):
    blend = catalog.resolve("jf_alpha(2)+jm_kumo(1)")
    expected = (2 * catalog.packs["jf_alpha"] + catalog.packs["jm_kumo"]) / 3
    np.testing.assert_allclose(blend, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(catalog.resolve("jf_alpha + jm_kumo"), (catalog.packs["jf_alpha"] + catalog.packs["jm_kumo"]) / 2)


def test_alias_and_case(catalog):
    assert catalog.resolve("Alloy") is catalog.packs["jf_alpha"]


@pytest.mark.parametrize("spec", ["jf_alpha(2)+", "jf_alpha((2)", "(2)", "jf_alpha(0)+jm_kumo", "jf alpha"])
def test_bad_blend_syntax(catalog, spec):
    with pytest.raises(InvalidRequest) as raised:
        catalog.resolve(spec)
    assert raised.value.param == "voice"


def test_unknown_voice(catalog):
    with pytest.raises(UnknownVoice, match="not found"):
        catalog.resolve("jf_alpha+nobody")


def test_wrong_pack_shape_is_refused(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((10, 256), np.float32))
    with pytest.raises(ValueError, match="shape"):
        VoiceCatalog.load(weights.bundled_voice_packs_file(), [tmp_path], {})


def test_alias_to_unknown_pack_is_refused():
    with pytest.raises(ValueError, match="unknown packs"):
        VoiceCatalog.load(weights.bundled_voice_packs_file(), [], {"alloy": "af_heart"})

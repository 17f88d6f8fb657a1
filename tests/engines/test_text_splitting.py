"""TextSplitter with the real offline G2P: sentence pieces, token limits, the short first piece."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from deployments.kokoro import weights
from deployments.kokoro.g2p import Phonemizer
from deployments.kokoro.text import MODEL_MAX_TOKENS, TextSplitter


@pytest.fixture(scope="module")
def splitter():
    return TextSplitter(weights.phoneme_vocabulary())


@pytest.fixture(scope="module")
def phonemize():
    phonemizer = Phonemizer()
    return lambda text: phonemizer(text, "a")


def test_one_piece_per_sentence(splitter, phonemize):
    pieces = list(splitter.pieces("Dr. Smith arrived at 5 p.m. on Jan. 3rd. He paid $12.50! Was it worth it?", phonemize))
    assert [p.text for p in pieces] == ["Dr. Smith arrived at 5 p.m. on Jan. 3rd.", "He paid $12.50!", "Was it worth it?"]
    assert all(p.ends_sentence for p in pieces)


def test_numbers_and_symbols_become_words(phonemize):
    spoken = phonemize("It costs $3.50, 15% more than in 2024.")
    # Every number and symbol turns into phonemes, none is dropped.
    assert "dˈɑləɹz" in spoken and "pəɹsˈɛnt" in spoken and "twˈɛnti" in spoken


def test_long_sentence_is_cut_under_the_token_limit(splitter, phonemize):
    sentence = ", ".join(["the river ran past the old mill and the quiet town"] * 30) + "."
    pieces = list(splitter.pieces(sentence, phonemize))
    assert len(pieces) > 1
    assert all(len(splitter.token_ids(p.phonemes)) <= MODEL_MAX_TOKENS for p in pieces)
    assert [p.ends_sentence for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert " ".join(p.text for p in pieces) == sentence


def test_first_piece_can_be_short(splitter, phonemize):
    text = "When the morning came, the travellers packed their bags and walked down to the harbour. Then they left."
    pieces = list(splitter.pieces(text, phonemize, first_piece_max_tokens=24))
    assert len(splitter.token_ids(pieces[0].phonemes)) <= 24
    assert pieces[0].text == "When the morning came,"
    assert " ".join(p.text for p in pieces) == text


def test_nothing_pronounceable_gives_no_pieces(splitter, phonemize):
    assert list(splitter.pieces("   \n  ", phonemize)) == []


def test_long_text_without_spaces_is_cut_at_full_width_clauses_and_loses_nothing():
    splitter = TextSplitter({c: i for i, c in enumerate("abcdefghij")}, max_tokens=12)
    # One "sentence" of CJK-style clauses with no spaces: phonemes are the letters themselves.
    text = "abcdefgh，abcdefgh、abcdefghij"
    pieces = list(splitter.pieces(text, lambda t: "".join(c for c in t if c.isalpha())))
    assert "".join(p.phonemes for p in pieces) == "abcdefgh" * 2 + "abcdefghij"
    assert all(len(p.phonemes) <= 12 for p in pieces) and len(pieces) == 3
    # No clause mark either: halves until each fits, still nothing lost.
    halves = list(splitter.pieces("abcdefghij" * 3, lambda t: t))
    assert "".join(p.phonemes for p in halves) == "abcdefghij" * 3 and all(len(p.phonemes) <= 12 for p in halves)


def test_concurrent_requests_get_their_own_sentences(splitter):
    # Threads plan concurrent requests with one splitter: no text may come back with another's sentences.
    texts = [f"Request {n} begins here. It has a middle part. Request {n} ends now." for n in range(8)]

    def plan(text: str) -> list[str]:
        return [piece.text for _ in range(30) for piece in splitter.pieces(text, str.lower)]

    with ThreadPoolExecutor(8) as pool:
        for text, pieces in zip(texts, pool.map(plan, texts), strict=True):
            assert " ".join(pieces) == " ".join([text] * 30)


def test_the_short_first_piece_comes_before_the_rest_of_its_sentence_is_fitted(splitter, phonemize):
    sentence = ("Each request is split into sentences, and every sentence is spoken as soon as it is ready, so the "
                "first words reach the listener long before the last ones are made.")
    calls: list[str] = []

    def counted(text: str) -> str:
        calls.append(text)
        return phonemize(text)

    pieces = splitter.pieces(sentence, counted, first_piece_max_tokens=12)
    opening = next(pieces)
    # The sentence once (does it fit?), its first clause, then a few growing word prefixes; fitting
    # the whole sentence into 12-token pieces first would take dozens of calls.
    assert len(calls) <= 6, calls
    assert len(splitter.token_ids(opening.phonemes)) <= 12 and opening.starts_sentence and not opening.ends_sentence
    rest = list(pieces)
    assert [p.starts_sentence for p in rest] == [False] * len(rest) and rest[-1].ends_sentence
    assert " ".join(p.text for p in [opening, *rest]) == sentence

"""Chatterbox checkpoints with random weights, one per model of the family, for tests on machines
without the real ones.

Same files and layout as each released checkpoint (the layout its class's `from_local` reads), loaded
by the same code (deployments.chatterbox.checkpoint), with full-size VoiceEncoder and S3Gen and a T3 of
two layers (the loader takes T3's depth from its weights; the width must stay 1024, which the
conditioning modules assume). Each model's tokenizer is built in its real format and read by the
package's own tokenizer class: a character-level one for the original, GPT-2's files (byte-level, with
Turbo's tags as added tokens) for Turbo, and a grapheme one with every language's token, the scripts
of the 23 languages and the Cangjie code letters for Multilingual. Random weights make noise, never
speech, and T3 hardly ever emits its stop token: cap `max_new_tokens`.

    python -m tests.chatterbox_fixture DIR --model original|turbo|multilingual    # build one by hand
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import torch
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers.tokenizer import EOT, SOT, SPACE, SPECIAL_TOKENS, UNK
from chatterbox.models.voice_encoder import VoiceEncoder
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers

from deployments.chatterbox import checkpoint
from deployments.chatterbox.model import model_for
from deployments.chatterbox.protocol import CHATTERBOX_MODELS, LANGUAGES, MULTILINGUAL, ORIGINAL, TURBO

T3_LAYERS = 2
BUILTIN_VOICE_SR = 24_000
# Model names on the command line, and the family's names they stand for.
MODEL_CHOICES = {"original": ORIGINAL, "turbo": TURBO, "multilingual": MULTILINGUAL}
# A few glyphs of the Cangjie table (Cangjie5_TC.json's "glyph<TAB>code" entries), enough for the tests' Chinese.
CANGJIE_SAMPLE = ("你\tonf", "好\tvnd", "世\tpt", "界\twolll", "中\tl", "文\tyk", "我\thqi", "們\tohfa")
# Unicode blocks of the languages Multilingual speaks, after its NFKD normalisation.
SCRIPT_BLOCKS = ((0x00C0, 0x0180), (0x0300, 0x0370), (0x0370, 0x0400), (0x0400, 0x0500), (0x0590, 0x0600),
                 (0x0600, 0x0700), (0x0900, 0x0980), (0x1100, 0x1200), (0x3040, 0x3100))


def _special_tokenizer(vocab: dict[str, int], specials: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    # Special tokens match as a whole ("[SPACE]" is how the package writes a space) and keep their ids.
    tokenizer.add_special_tokens(specials)
    return tokenizer


def text_tokenizer() -> Tokenizer:
    """The original's: character-level, T3's stop/start text tokens for [STOP]/[START], printable ASCII."""
    hp = T3Config.english_only()
    vocab = {EOT: hp.stop_text_token, UNK: 1, SPACE: 2}
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab[char] = len(vocab)
    vocab[SOT] = hp.start_text_token
    for token in SPECIAL_TOKENS:
        vocab.setdefault(token, len(vocab))
    assert len(set(vocab.values())) == len(vocab) and max(vocab.values()) < hp.text_tokens_dict_size
    return _special_tokenizer(vocab, SPECIAL_TOKENS)


def multilingual_tokenizer() -> Tokenizer:
    """Multilingual's grapheme tokenizer: [START]/[STOP] at T3's ids, a token per language ("[fr]"), the
    Cangjie code letters ("[cj_a]"), ASCII and the scripts of the 23 languages."""
    hp = T3Config.multilingual()
    vocab = {EOT: hp.stop_text_token, UNK: 1, SPACE: 2}
    chars = list(string.ascii_letters + string.digits + string.punctuation)
    chars += [chr(code) for first, stop in SCRIPT_BLOCKS for code in range(first, stop)]
    specials = [*SPECIAL_TOKENS, *(f"[{code}]" for code in LANGUAGES),
                *(f"[cj_{letter}]" for letter in string.ascii_lowercase + ".")]
    for token in chars:
        if len(vocab) == hp.start_text_token:
            vocab[SOT] = hp.start_text_token
        vocab.setdefault(token, len(vocab))
    for token in specials:
        vocab.setdefault(token, len(vocab))
    assert len(set(vocab.values())) == len(vocab) and max(vocab.values()) < hp.text_tokens_dict_size
    return _special_tokenizer(vocab, specials)


def write_turbo_tokenizer(path: Path) -> None:
    """GPT-2's tokenizer files (vocab.json, merges.txt, the added tags), in the released layout, read by
    AutoTokenizer: byte-level, one token per byte and no merges, so any text encodes."""
    vocab = {char: index for index, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab["<|endoftext|>"] = len(vocab)
    tags = {tag: len(vocab) + i for i, tag in enumerate(CHATTERBOX_MODELS[TURBO].tags)}
    assert max(tags.values()) < checkpoint.TURBO_TEXT_VOCAB
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    (path / "added_tokens.json").write_text(json.dumps(tags))
    special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    (path / "special_tokens_map.json").write_text(json.dumps(special))
    added = {str(i): {"content": tag, "special": False, "normalized": False, "lstrip": False, "rstrip": False,
                      "single_word": False} for tag, i in tags.items()}
    (path / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "GPT2Tokenizer", "model_max_length": 8196, "add_prefix_space": False,
         "added_tokens_decoder": added, **special}))


def build_checkpoint(path: Path, seed: int = 0, model: str = ORIGINAL) -> Path:
    """Write a random-weight checkpoint of `model` into `path` (created if needed); the same seed, the same
    files. Like the released ones it ships a built-in voice (conds.pt), made from `builtin_voice_clip()`."""
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    ve, t3 = VoiceEncoder().eval(), checkpoint.t3_with_layers(model, T3_LAYERS).eval()
    s3gen = S3Gen(meanflow=model == TURBO).eval()
    if model == TURBO:
        save_file(ve.state_dict(), path / checkpoint.VOICE_ENCODER)
        save_file({k: v for k, v in t3.state_dict().items() if not k.startswith("tfmr.wte.")},
                  path / checkpoint.TURBO_T3_WEIGHTS)
        save_file(s3gen.state_dict(), path / checkpoint.MEANFLOW_WEIGHTS)
        write_turbo_tokenizer(path)
    elif model == MULTILINGUAL:
        torch.save(ve.state_dict(), path / checkpoint.MTL_VOICE_ENCODER)
        save_file(t3.state_dict(), path / checkpoint.MTL_T3_WEIGHTS)
        torch.save(s3gen.state_dict(), path / checkpoint.MTL_S3GEN_WEIGHTS)
        multilingual_tokenizer().save(str(path / checkpoint.MTL_TOKENIZER))
        (path / checkpoint.CANGJIE).write_text(json.dumps(list(CANGJIE_SAMPLE), ensure_ascii=False), encoding="utf-8")
    else:
        save_file(ve.state_dict(), path / checkpoint.VOICE_ENCODER)
        save_file(t3.state_dict(), path / checkpoint.T3_WEIGHTS)
        save_file(s3gen.state_dict(), path / checkpoint.S3GEN_WEIGHTS)
        text_tokenizer().save(str(path / checkpoint.TOKENIZER))

    # Through the model class the engine uses, tokenizer included.
    loaded = model_for(model, path, "cpu")
    voice = loaded.prepare_voice(builtin_voice_clip(model), BUILTIN_VOICE_SR)
    voice.save(path / checkpoint.BUILTIN_VOICE)
    return path


def builtin_voice_clip(model: str = ORIGINAL) -> np.ndarray:
    """1.5 s; for Turbo, which needs more than 5 s of reference, 6 s."""
    return harmonic_clip(6.0 if model == TURBO else 1.5, BUILTIN_VOICE_SR, f0=180, seed=3)


def harmonic_clip(seconds: float, sample_rate: int, f0: float, seed: int = 0) -> np.ndarray:
    """A voice-like float32 clip: a gliding harmonic tone, syllable-rate loudness, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    wav = 0.3 * tone * syllables / 2 + 0.01 * rng.standard_normal(len(t))
    return wav.astype(np.float32)


if __name__ == "__main__":
    from tests.chatterbox_fixture import main

    main()

"""Chatterbox checkpoints, one layout per model of the family: which files make one, and how they become
the package's own model object (ChatterboxTTS, ChatterboxTurboTTS, ChatterboxMultilingualTTS).

Each layout is the one the class's `from_local` reads, and each model is assembled here from the same
modules, files and tokenizers as `from_local` assembles it, with one difference: `from_local` always
builds the full-depth T3, while these loaders take T3's depth from its weights, so a shallow T3 (the
random-weight test checkpoints) loads through the same code as the released one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.t3 import T3
from chatterbox.models.t3.llama_configs import LLAMA_CONFIGS
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers import EnTokenizer, MTLTokenizer
from chatterbox.models.tokenizers.tokenizer import ChineseCangjieConverter
from chatterbox.models.voice_encoder import VoiceEncoder
from chatterbox.mtl_tts import ChatterboxMultilingualTTS
from chatterbox.tts import ChatterboxTTS, Conditionals
from chatterbox.tts_turbo import ChatterboxTurboTTS
from safetensors.torch import load_file
from tokenizers import Tokenizer

from deployments.chatterbox.protocol import MULTILINGUAL, ORIGINAL, TURBO
from deployments.s3gen.checkpoint import BUILTIN_VOICE, S3GEN_WEIGHTS

VOICE_ENCODER = "ve.safetensors"
T3_WEIGHTS = "t3_cfg.safetensors"
TOKENIZER = "tokenizer.json"

TURBO_T3_WEIGHTS = "t3_turbo_v1.safetensors"
MEANFLOW_WEIGHTS = "s3gen_meanflow.safetensors"
TURBO_TOKENIZER = ("tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json")

MTL_VOICE_ENCODER = "ve.pt"
MTL_T3_WEIGHTS = "t3_mtl23ls_v2.safetensors"
MTL_S3GEN_WEIGHTS = "s3gen.pt"
MTL_TOKENIZER = "grapheme_mtl_merged_expanded_v1.json"
CANGJIE = "Cangjie5_TC.json"  # Chinese glyphs -> Cangjie codes, which the tokenizer spells

REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    ORIGINAL: (VOICE_ENCODER, T3_WEIGHTS, S3GEN_WEIGHTS, TOKENIZER),
    TURBO: (VOICE_ENCODER, TURBO_T3_WEIGHTS, MEANFLOW_WEIGHTS, *TURBO_TOKENIZER),
    MULTILINGUAL: (MTL_VOICE_ENCODER, MTL_T3_WEIGHTS, MTL_S3GEN_WEIGHTS, MTL_TOKENIZER, CANGJIE),
}
TURBO_TEXT_VOCAB = 50276  # GPT-2's tokens and the tags Turbo adds

_LAYER = re.compile(r"^tfmr\.(?:layers|h)\.(\d+)\.")


def t3_config(model: str) -> T3Config:
    """T3's hyperparameters for a model, as its class's from_local sets them."""
    if model == MULTILINGUAL:
        return T3Config.multilingual()
    if model == TURBO:
        hp = T3Config(text_tokens_dict_size=TURBO_TEXT_VOCAB)
        hp.llama_config_name = "GPT2_medium"
        hp.speech_tokens_dict_size = 6563
        hp.input_pos_emb = None
        hp.speech_cond_prompt_len = 375
        hp.use_perceiver_resampler = False
        hp.emotion_adv = False
        return hp
    return T3Config.english_only()


def t3_with_layers(model: str, num_layers: int) -> T3:
    """The model's T3 with `num_layers` transformer layers (the released ones have 30, Turbo's 24).

    T3 picks its backbone by name from the package's LLAMA_CONFIGS; other depths are registered
    there as a copy of the released configuration with only the depth changed.
    """
    hp = t3_config(model)
    stock = LLAMA_CONFIGS[hp.llama_config_name]
    depth_key = "n_layer" if stock.get("model_type") == "gpt2" else "num_hidden_layers"
    if num_layers != stock[depth_key]:
        name = f"{hp.llama_config_name}_{num_layers}_layers"
        LLAMA_CONFIGS.setdefault(name, {**stock, depth_key: num_layers})
        hp.llama_config_name = name
    return T3(hp)


def t3_layers(state: dict[str, torch.Tensor]) -> int:
    return 1 + max(int(m.group(1)) for key in state if (m := _LAYER.match(key)))


def _t3(model: str, state: dict[str, torch.Tensor], device: str) -> T3:
    t3 = t3_with_layers(model, t3_layers(state))
    if t3.is_gpt:
        # Turbo feeds embeddings, never GPT-2's token ids: from_local drops the token embedding after loading.
        state = {key: value for key, value in state.items() if not key.startswith("tfmr.wte.")}
        del t3.tfmr.wte
    t3.load_state_dict(state)
    return t3.to(device).eval()


def _voice_encoder(state: dict[str, torch.Tensor], device: str) -> VoiceEncoder:
    ve = VoiceEncoder()
    ve.load_state_dict(state)
    return ve.to(device).eval()


def _s3gen(state: dict[str, torch.Tensor], device: str, *, meanflow: bool = False, strict: bool = True) -> S3Gen:
    s3gen = S3Gen(meanflow=meanflow)
    s3gen.load_state_dict(state, strict=strict)
    return s3gen.to(device).eval()


def _torch_file(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_original(ckpt_dir: Path, device: str) -> ChatterboxTTS:
    # S3Gen not strict, as in from_local: the released weights leave out the S3 tokenizer's mel
    # filterbank and window, which S3Gen computes itself.
    return ChatterboxTTS(_t3(ORIGINAL, load_file(ckpt_dir / T3_WEIGHTS), device),
                         _s3gen(load_file(ckpt_dir / S3GEN_WEIGHTS), device, strict=False),
                         _voice_encoder(load_file(ckpt_dir / VOICE_ENCODER), device),
                         EnTokenizer(str(ckpt_dir / TOKENIZER)), device)


def load_turbo(ckpt_dir: Path, device: str) -> ChatterboxTurboTTS:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ckpt_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return ChatterboxTurboTTS(_t3(TURBO, load_file(ckpt_dir / TURBO_T3_WEIGHTS), device),
                              _s3gen(load_file(ckpt_dir / MEANFLOW_WEIGHTS), device, meanflow=True),
                              _voice_encoder(load_file(ckpt_dir / VOICE_ENCODER), device), tokenizer, device)


def load_multilingual(ckpt_dir: Path, device: str) -> ChatterboxMultilingualTTS:
    return ChatterboxMultilingualTTS(_t3(MULTILINGUAL, load_file(ckpt_dir / MTL_T3_WEIGHTS), device),
                                     _s3gen(_torch_file(ckpt_dir / MTL_S3GEN_WEIGHTS), device),
                                     _voice_encoder(_torch_file(ckpt_dir / MTL_VOICE_ENCODER), device),
                                     multilingual_tokenizer(ckpt_dir), device)


class _CheckpointCangjie(ChineseCangjieConverter):
    """The package's Cangjie converter over the table in the checkpoint: the package looks for the table on
    the hub (five retries offline, then Chinese reaches the model as raw glyphs)."""

    def _load_cangjie_mapping(self, model_dir=None):
        for entry in json.loads(Path(model_dir, CANGJIE).read_text(encoding="utf-8")):
            word, code = entry.split("\t")[:2]
            self.word2cj[word] = code
            self.cj2word.setdefault(code, []).append(word)


def multilingual_tokenizer(ckpt_dir: Path) -> MTLTokenizer:
    """The package's MTLTokenizer as its constructor makes it, with the Cangjie table read from the checkpoint."""
    tokenizer = MTLTokenizer.__new__(MTLTokenizer)
    tokenizer.tokenizer = Tokenizer.from_file(str(ckpt_dir / MTL_TOKENIZER))
    tokenizer.cangjie_converter = _CheckpointCangjie(ckpt_dir)
    tokenizer.check_vocabset_sot_eot()
    return tokenizer


LOADERS: dict[str, Callable[[Path, str], object]] = {
    ORIGINAL: load_original, TURBO: load_turbo, MULTILINGUAL: load_multilingual}


def load(model: str, ckpt_dir: Path, device: str):
    """The package's model object on `device`, and the checkpoint's built-in voice if it ships one."""
    tts = LOADERS[model](ckpt_dir, device)
    builtin = None
    if (ckpt_dir / BUILTIN_VOICE).is_file():
        builtin = Conditionals.load(ckpt_dir / BUILTIN_VOICE, map_location=device).to(device)
    return tts, builtin

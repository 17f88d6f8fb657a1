"""Chatterbox checkpoints: which files make one, where they come from, how they become a model.

The layout is the one `ChatterboxTTS.from_local` reads. The model is assembled here from the
package's modules rather than by `from_local` because `from_local` always builds the 30-layer T3:
this loader takes T3's depth from the checkpoint, so a shallow T3 (the random-weight test
checkpoint) loads through the same code as the released one.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.t3 import T3
from chatterbox.models.t3.llama_configs import LLAMA_CONFIGS
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers import EnTokenizer
from chatterbox.models.voice_encoder import VoiceEncoder
from chatterbox.tts import ChatterboxTTS, Conditionals
from safetensors.torch import load_file

from deployments.s3gen.checkpoint import BUILTIN_VOICE, S3GEN_WEIGHTS

VOICE_ENCODER = "ve.safetensors"
T3_WEIGHTS = "t3_cfg.safetensors"
TOKENIZER = "tokenizer.json"
REQUIRED_FILES = (VOICE_ENCODER, T3_WEIGHTS, S3GEN_WEIGHTS, TOKENIZER)

_T3_LAYER = re.compile(r"^tfmr\.layers\.(\d+)\.")


def t3_with_layers(num_layers: int) -> T3:
    """The English T3 with `num_layers` transformer layers (the released model has 30).

    T3 picks its backbone by name from the package's LLAMA_CONFIGS; other depths are registered
    there as a copy of the released configuration with only the depth changed.
    """
    hp = T3Config.english_only()
    stock = LLAMA_CONFIGS[hp.llama_config_name]
    if num_layers != stock["num_hidden_layers"]:
        name = f"{hp.llama_config_name}_{num_layers}_layers"
        LLAMA_CONFIGS.setdefault(name, {**stock, "num_hidden_layers": num_layers})
        hp.llama_config_name = name
    return T3(hp)


def t3_layers(state: dict[str, torch.Tensor]) -> int:
    return 1 + max(int(m.group(1)) for key in state if (m := _T3_LAYER.match(key)))


def load(ckpt_dir: Path, device: str) -> tuple[ChatterboxTTS, Conditionals | None]:
    """The model on `device`, and the checkpoint's built-in voice if it ships one."""
    ve = VoiceEncoder()
    ve.load_state_dict(load_file(ckpt_dir / VOICE_ENCODER))
    ve.to(device).eval()

    t3_state = load_file(ckpt_dir / T3_WEIGHTS)
    t3 = t3_with_layers(t3_layers(t3_state))
    t3.load_state_dict(t3_state)
    t3.to(device).eval()

    # Not strict, as in from_local: the released weights leave out the S3 tokenizer's mel
    # filterbank and window, which S3Gen computes itself.
    s3gen = S3Gen()
    s3gen.load_state_dict(load_file(ckpt_dir / S3GEN_WEIGHTS), strict=False)
    s3gen.to(device).eval()

    tokenizer = EnTokenizer(str(ckpt_dir / TOKENIZER))

    builtin = None
    if (ckpt_dir / BUILTIN_VOICE).is_file():
        builtin = Conditionals.load(ckpt_dir / BUILTIN_VOICE, map_location=device).to(device)
    return ChatterboxTTS(t3, s3gen, ve, tokenizer, device), builtin

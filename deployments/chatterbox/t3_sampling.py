"""Next speech tokens for many T3 streams at once, each with its own sampling parameters and random draws.

The steps and their order are those of the package's single-stream loops: T3.inference (the
original and Multilingual) applies classifier-free guidance, the repetition penalty, temperature,
min-p and top-p; T3.inference_turbo applies temperature, top-k and top-p, and the repetition penalty
last. One pipeline holds both: a step a model does not take is a no-op at its neutral value (no
guidance, min-p 0, top-k 0), and `penalty_last` places the penalty. Each step is computed for all
streams together with per-row parameters. The draw is a
Gumbel-max over noise from the stream's own generator: a seeded stream gets the same tokens
whichever other streams share its batch, and a tiny numeric difference between a batched and a solo
forward pass can change its token only when two candidates tie, not whenever a cumulative sum
moves past the draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deployments.chatterbox.protocol import CHATTERBOX_DEFAULTS, ChatterboxModelSpec, ChatterboxParams

# The value at which a step changes nothing, for the steps a model does not take.
NEUTRAL = {"cfg_weight": 0.0, "temperature": 1.0, "repetition_penalty": 1.0, "min_p": 0.0, "top_p": 1.0, "top_k": 0}


@dataclass(frozen=True)
class Sampling:
    # The defaults are the original model's (ChatterboxParams), not a second copy of them.
    cfg_weight: float = CHATTERBOX_DEFAULTS.cfg_weight
    temperature: float = CHATTERBOX_DEFAULTS.temperature
    repetition_penalty: float = CHATTERBOX_DEFAULTS.repetition_penalty
    min_p: float = CHATTERBOX_DEFAULTS.min_p
    top_p: float = CHATTERBOX_DEFAULTS.top_p
    top_k: int = CHATTERBOX_DEFAULTS.top_k  # 0: off
    penalty_last: bool = False  # Turbo's order: the penalty after the warpers

    @classmethod
    def of(cls, params: ChatterboxParams, spec: ChatterboxModelSpec, penalty_last: bool = False) -> Sampling:
        """How `spec`'s model samples with `params`: a field the model does not use is at its neutral value."""
        return cls(**{name: getattr(params, name) if name in spec.uses else neutral
                      for name, neutral in NEUTRAL.items()}, penalty_last=penalty_last)


class StreamDraws:
    """One stream's random generator and the tokens it has produced (for the repetition penalty)."""

    def __init__(self, vocab: int, first_token: int, seed: int | None, device: torch.device | str):
        self.generator = torch.Generator(device=device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        # The package's loop penalises its start-of-speech token too: it is in the ids it has seen.
        self.seen = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.seen[first_token] = True

    def noise(self, vocab: int) -> torch.Tensor:
        return torch.rand(vocab, generator=self.generator, device=self.seen.device)


def _column(values: list[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)[:, None]


def next_tokens(cond: torch.Tensor, uncond: torch.Tensor, sampling: list[Sampling],
                draws: list[StreamDraws]) -> torch.Tensor:
    """(streams,) next tokens from each stream's conditional and unconditional logits (streams, vocab).

    A stream without guidance passes its conditional logits as both.
    """
    logits = cond.float()
    weight = _column([s.cfg_weight for s in sampling], logits)
    logits = logits + weight * (logits - uncond.float())

    penalty = _column([s.repetition_penalty for s in sampling], logits)
    late = torch.tensor([s.penalty_last for s in sampling], device=logits.device)[:, None]
    seen = torch.stack([d.seen for d in draws])

    def penalise(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        penalised = torch.where(values < 0, values * penalty, values / penalty)
        return torch.where(seen & rows, penalised, values)

    logits = penalise(logits, ~late)
    logits = logits / _column([s.temperature for s in sampling], logits)

    probs = logits.softmax(-1)
    floor = _column([s.min_p for s in sampling], logits) * probs.amax(-1, keepdim=True)
    logits = logits.masked_fill(probs < floor, float("-inf"))

    # Top-k as the package's warper: keep the tokens at least as likely as the k-th.
    vocab = logits.shape[-1]
    k = torch.tensor([min(s.top_k, vocab) for s in sampling], device=logits.device)
    kth = logits.sort(-1, descending=True).values.gather(-1, (k.clamp(min=1) - 1)[:, None])
    logits = logits.masked_fill((k[:, None] > 0) & (logits < kth), float("-inf"))

    # Top-p as the package's warper does it: drop the least likely tokens while their total stays
    # within 1 - top_p, always keeping the likeliest.
    ascending, order = logits.sort(-1)
    drop = ascending.softmax(-1).cumsum(-1) <= 1 - _column([s.top_p for s in sampling], logits)
    drop[:, -1] = False
    logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    logits = penalise(logits, late)

    uniform = torch.stack([d.noise(vocab) for d in draws]).clamp_(torch.finfo(torch.float32).tiny, 1 - 1e-7)
    tokens = (logits - torch.log(-torch.log(uniform))).argmax(-1)
    for d, token in zip(draws, tokens.tolist()):
        d.seen[token] = True
    return tokens

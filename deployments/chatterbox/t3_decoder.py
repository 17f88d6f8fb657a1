"""T3's backbone run layer by layer over a RowCache: the prefill of one stream's prompt, and one decode
step for every live row of the running batch at once.

Two backbones: the Llama of the original and Multilingual T3 (rotary positions; speech tokens also
carry T3's own learned position embedding), and the GPT-2 medium of Turbo (learned absolute positions,
`wpe`, added to every input). Composed from the package's modules (each layer's norms, projections
and MLP, T3's speech embedding and head), not through the transformers models' forward: rows of
different lengths share the cache, each with its own positions, and the cache is ours to grow,
compact and free.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from deployments.chatterbox.kv_cache import RowCache


class T3Decoder:
    """Subclasses lay out one backbone: its heads, its layers, how a decoded token is embedded."""

    head_dim: int
    kv_heads: int
    grouped = False  # keys and values have fewer heads than queries

    def __init__(self, t3):
        self.t3 = t3

    @property
    def depth(self) -> int:
        raise NotImplementedError

    def new_cache(self) -> RowCache:
        weight = self.t3.speech_head.weight
        return RowCache(self.depth, self.kv_heads, self.head_dim, weight.dtype, weight.device)

    def prefill(self, embeds: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Rows of one prompt (rows, tokens, dim), unpadded: the speech logits after its last token, and
        each layer's keys and values for RowCache.add."""
        rows, tokens, _ = embeds.shape
        positions = torch.arange(tokens, device=embeds.device)[None].expand(rows, tokens)
        keys, values = [], []

        def attend(layer: int, q, k, v):
            keys.append(k)
            values.append(v)
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.grouped)

        hidden = self._layers(embeds, positions, attend)
        return self.t3.speech_head(hidden[:, -1]), keys, values

    def decode(self, cache: RowCache, tokens: torch.Tensor, speech_index: torch.Tensor,
               positions: torch.Tensor) -> torch.Tensor:
        """One token per live row: the last speech token of each (rows,), its index among the row's speech
        tokens (rows,) and its position in the row's sequence (rows, 1). Returns the next speech logits."""
        mask = cache.begin_step()

        def attend(layer: int, q, k, v):
            keys, values = cache.write(layer, k, v)
            return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=self.grouped)

        hidden = self._layers(self._embed_speech(tokens, speech_index)[:, None], positions, attend)
        cache.end_step()
        return self.t3.speech_head(hidden[:, -1])

    def _embed_speech(self, tokens: torch.Tensor, speech_index: torch.Tensor) -> torch.Tensor:
        return self.t3.speech_emb(tokens)

    def _layers(self, x: torch.Tensor, positions: torch.Tensor, attend) -> torch.Tensor:
        raise NotImplementedError


class LlamaDecoder(T3Decoder):
    def __init__(self, t3):
        super().__init__(t3)
        self._llama = t3.tfmr
        config = t3.cfg
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.grouped = self.kv_heads != config.num_attention_heads

    @property
    def depth(self) -> int:
        return len(self._llama.layers)

    def _embed_speech(self, tokens: torch.Tensor, speech_index: torch.Tensor) -> torch.Tensor:
        # As the package feeds a token: its speech embedding plus the learned position of its index.
        return self.t3.speech_emb(tokens) + self.t3.speech_pos_emb.emb(speech_index)

    def _layers(self, x: torch.Tensor, positions: torch.Tensor, attend) -> torch.Tensor:
        cos, sin = self._llama.rotary_emb(x, positions)
        batch, tokens, _ = x.shape
        for index, layer in enumerate(self._llama.layers):
            attention = layer.self_attn
            h = layer.input_layernorm(x)
            q = attention.q_proj(h).view(batch, tokens, -1, self.head_dim).transpose(1, 2)
            k = attention.k_proj(h).view(batch, tokens, -1, self.head_dim).transpose(1, 2)
            v = attention.v_proj(h).view(batch, tokens, -1, self.head_dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            out = attend(index, q, k, v).transpose(1, 2).reshape(batch, tokens, -1)
            x = x + attention.o_proj(out)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self._llama.norm(x)


class GPT2Decoder(T3Decoder):
    """Turbo's backbone. GPT-2 scales attention by 1/sqrt(head_dim), as scaled_dot_product_attention does."""

    def __init__(self, t3):
        super().__init__(t3)
        self._gpt = t3.tfmr
        config = t3.cfg
        self.kv_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads

    @property
    def depth(self) -> int:
        return len(self._gpt.h)

    def _layers(self, x: torch.Tensor, positions: torch.Tensor, attend) -> torch.Tensor:
        x = x + self._gpt.wpe(positions)
        batch, tokens, width = x.shape
        for index, block in enumerate(self._gpt.h):
            q, k, v = block.attn.c_attn(block.ln_1(x)).split(width, dim=2)
            q, k, v = (t.view(batch, tokens, -1, self.head_dim).transpose(1, 2) for t in (q, k, v))
            out = attend(index, q, k, v).transpose(1, 2).reshape(batch, tokens, width)
            x = x + block.attn.c_proj(out)
            x = x + block.mlp(block.ln_2(x))
        return self._gpt.ln_f(x)


def decoder_for(t3) -> T3Decoder:
    return GPT2Decoder(t3) if t3.is_gpt else LlamaDecoder(t3)

"""T3's Llama backbone run layer by layer over a RowCache: the prefill of one stream's prompt, and one
decode step for every live row of the running batch at once.

Composed from the package's modules (each decoder layer's norms, projections and MLP, the rotary
embedding, T3's speech head), not through LlamaModel.forward: rows of different lengths share the
cache, each with its own positions, and the cache is ours to grow, compact and free.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from deployments.chatterbox.kv_cache import RowCache


class T3Decoder:
    def __init__(self, t3):
        self.t3 = t3
        self._llama = t3.tfmr
        config = t3.cfg
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self._grouped = self.kv_heads != config.num_attention_heads

    def new_cache(self) -> RowCache:
        weight = self.t3.speech_head.weight
        return RowCache(len(self._llama.layers), self.kv_heads, self.head_dim, weight.dtype, weight.device)

    def prefill(self, embeds: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Rows of one prompt (rows, tokens, dim), unpadded: the speech logits after its last token, and
        each layer's keys and values for RowCache.add."""
        rows, tokens, _ = embeds.shape
        positions = torch.arange(tokens, device=embeds.device)[None].expand(rows, tokens)
        keys, values = [], []

        def attend(layer: int, q, k, v):
            keys.append(k)
            values.append(v)
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self._grouped)

        hidden = self._layers(embeds, positions, attend)
        return self.t3.speech_head(hidden[:, -1]), keys, values

    def decode(self, cache: RowCache, embeds: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """One token per live row (embeds: (rows, 1, dim); positions: (rows, 1)): the next speech logits."""
        mask = cache.begin_step()

        def attend(layer: int, q, k, v):
            keys, values = cache.write(layer, k, v)
            return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=self._grouped)

        hidden = self._layers(embeds, positions, attend)
        cache.end_step()
        return self.t3.speech_head(hidden[:, -1])

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

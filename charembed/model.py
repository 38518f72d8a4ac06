"""The notebook's model: one-hot input -> Linear(V -> d) -> Linear(d -> V), both without bias.

A one-hot row times the first weight matrix picks one column of it, so that matrix is an embedding
table: character a gets the vector e[a]. The logit of next character b after a is e[a] . w[b].
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class CharModel(nn.Module):
    """Embedding table (V, d) and output map (d -> V), initialised exactly as the notebook's
    `nn.Linear(V, d, bias=False)` followed by `nn.Linear(d, V, bias=False)`."""

    def __init__(self, vocab_size: int, embedding_dim: int, seed: int | None = None):
        super().__init__()
        # a private generator: seeding the global one would race with other sessions' threads
        generator = torch.Generator().manual_seed(seed) if seed is not None else None

        # subtle: draw the weights in the notebook's order and with nn.Linear's own initialisation,
        # so a seed gives the weights that torch.manual_seed(seed) then the notebook's cells give
        layer_1_weight = torch.empty(embedding_dim, vocab_size)  # nn.Linear(V, d).weight, (d, V)
        layer_2_weight = torch.empty(vocab_size, embedding_dim)  # nn.Linear(d, V).weight, (V, d)
        for weight in (layer_1_weight, layer_2_weight):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)

        self.embedding = nn.Embedding(vocab_size, embedding_dim, _weight=layer_1_weight.T.contiguous())
        self.output = nn.utils.skip_init(nn.Linear, embedding_dim, vocab_size, bias=False)
        with torch.no_grad():
            self.output.weight.copy_(layer_2_weight)

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    @property
    def embedding_dim(self) -> int:
        return self.embedding.embedding_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Return next-character logits (..., V) for ids (...)."""
        return self.output(self.embedding(ids))

    def all_logits(self) -> torch.Tensor:
        """Return the (V, V) logits of every next character b after every character a."""
        return self.embedding.weight @ self.output.weight.T  # (V, d) @ (d, V) -> (V, V)

    def count_loss(self, counts: torch.Tensor) -> torch.Tensor:
        """Return the mean next-character cross-entropy over a text, given its (V, V) bigram counts.

        Equal to the per-position `F.cross_entropy(model(ids[:-1]), ids[1:])`, but it costs
        O(V^2 d) whatever the length of the text: each pair (a, b) occurring C[a, b] times
        contributes C[a, b] * -log p(b | a).
        """
        log_probs = F.log_softmax(self.all_logits(), dim=1)  # (V, V)
        return -(counts * log_probs).sum() / counts.sum()

    def next_char_probs(self, char_id: int) -> torch.Tensor:
        """Return the (V,) next-character distribution after one character id."""
        with torch.no_grad():
            return F.softmax(self(torch.tensor(char_id)), dim=-1)


def orientation_signs(embedding: torch.Tensor, reference_id: int) -> torch.Tensor:
    """Return (d,) signs that put the reference character on the positive side of every axis.

    Flipping the sign of column k in both the embedding table and the output map leaves every
    logit e[a] . w[b] unchanged, so a trained model has 2^d equally good mirror images. Drawing
    them all with the same orientation (the text's most frequent character on the positive side)
    lets reruns and seeds be compared like with like.
    """
    signs = torch.sign(embedding[reference_id].detach())  # (d,)
    return torch.where(signs == 0, torch.ones_like(signs), signs)

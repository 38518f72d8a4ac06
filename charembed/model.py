"""The notebook's model: one-hot input -> Linear(V -> d) -> Linear(d -> V), both without bias.

A one-hot row times the first weight matrix picks one column of it, so that matrix is an embedding
table: character a gets the vector e[a]. The logit of next character b after a is e[a] . w[b].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CharModel(nn.Module):
    """Embedding table (V, d) and output map (d -> V), initialised exactly as the notebook's
    `nn.Linear(V, d, bias=False)` followed by `nn.Linear(d, V, bias=False)`."""

    def __init__(self, vocab_size: int, embedding_dim: int, seed: int | None = None):
        super().__init__()
        generator_state = torch.random.get_rng_state()
        if seed is not None:
            torch.manual_seed(seed)

        # subtle: build the two nn.Linear layers in the notebook's order so the same seed gives the
        # same initial weights as the notebook's cells
        layer_1 = nn.Linear(vocab_size, embedding_dim, bias=False)  # weight (d, V)
        layer_2 = nn.Linear(embedding_dim, vocab_size, bias=False)  # weight (V, d)
        if seed is not None:
            torch.random.set_rng_state(generator_state)

        self.embedding = nn.Embedding(vocab_size, embedding_dim, _weight=layer_1.weight.detach().T.clone())
        self.output = nn.Linear(embedding_dim, vocab_size, bias=False)
        with torch.no_grad():
            self.output.weight.copy_(layer_2.weight)

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

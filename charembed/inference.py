"""Next-character predictions and sampling from a trained model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from charembed.corpus import OTHER, Corpus
from charembed.model import CharModel
from charembed.text import TextError, char_from_stand_in, display_char

MAX_SAMPLE_LENGTH = 2_000  # characters one sampling request may generate
OTHER_SAMPLE = "\N{REPLACEMENT CHARACTER}"  # how a sampled merged "other" entry is written


@dataclass(frozen=True)
class Prediction:
    """The model's next-character distribution after one character, beside the text's own."""

    char: str
    char_id: int
    probs: np.ndarray  # (V,) model probabilities of each next character
    actual: np.ndarray  # (V,) fraction of times each character follows `char` in the text
    occurrences: int  # how often `char` is followed by another character in the text

    @property
    def predicted_id(self) -> int:
        return int(self.probs.argmax())

    def top_ids(self, k: int = 10) -> np.ndarray:
        """Return the ids of the k most probable next characters, most probable first."""
        k = min(k, len(self.probs))
        top = np.argpartition(-self.probs, k - 1)[:k]
        return top[np.argsort(-self.probs[top], kind="stable")]


def resolve_query(corpus: Corpus, query: str) -> str:
    """Return the character a query means: the query itself, or, when it is a stand-in such as
    "⏎" or "U+0007" that does not itself occur in the text, the character it stands for. Invisible
    characters cannot be typed into a one-line box, so the vocabulary list puts their stand-ins there."""
    if _occurs(corpus, query):
        return query
    char = char_from_stand_in(query)
    return char if char is not None and _occurs(corpus, char) else query


def _occurs(corpus: Corpus, char: str) -> bool:
    char_id = corpus.vocab.stoi.get(char)
    return char_id is not None and corpus.char_counts[char_id] > 0


def query_id(corpus: Corpus, char: str) -> int:
    """Return the vocabulary id of one queried character, after `resolve_query`.

    Raise TextError when `char` is empty, longer than one character, or does not occur in the
    text (also in the fixed 126-class vocabulary, where unseen characters have ids but no
    trained meaning).
    """
    char = resolve_query(corpus, char)
    if char == "":
        raise TextError("Type one character to see what the model predicts after it.")
    if len(char) > 1:
        raise TextError(
            f"Type exactly one character, not {len(char)}: the model sees only the current character."
        )
    if not _occurs(corpus, char):
        raise TextError(
            f"The character {display_char(char)} does not occur in the text, so the model has "
            f"learned nothing about it. Pick a character from the list."
        )
    return corpus.vocab.stoi[char]


def predict_next(model: CharModel, corpus: Corpus, char: str) -> Prediction:
    """Return the model's next-character distribution after `char` and the text's real one.

    Raise TextError for a query that `query_id` rejects.
    """
    char = resolve_query(corpus, char)
    char_id = query_id(corpus, char)
    probs = model.next_char_probs(char_id).numpy().astype(np.float64)  # (V,)

    followers = corpus.text_counts[char_id].numpy()  # (V,)
    occurrences = int(followers.sum())
    actual = followers / occurrences if occurrences else np.zeros_like(followers)
    return Prediction(char, char_id, probs, actual, occurrences)


def sample(
    model: CharModel, corpus: Corpus, start: str, length: int, temperature: float = 1.0, seed: int = 0
) -> str:
    """Return `start` followed by `length` characters drawn one at a time from the model.

    A drawn merged "other" entry is written as U+FFFD, so the result has 1 + length characters.
    temperature divides the logits: below 1 sharpens the distribution, above 1 flattens it.
    Raise ValueError for a length outside 1..MAX_SAMPLE_LENGTH or a temperature that is not
    positive, and TextError for a start character that `query_id` rejects.
    """
    if not 1 <= length <= MAX_SAMPLE_LENGTH:
        raise ValueError(f"Length {length} is out of range: choose 1 to {MAX_SAMPLE_LENGTH:,}.")
    if not temperature > 0:
        raise ValueError(f"Temperature {temperature} is invalid: choose a number above 0.")
    char_id = query_id(corpus, start)

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        probs = torch.softmax(model.all_logits() / temperature, dim=1)  # (V, V)
    ids = [char_id]
    for _ in range(length):
        ids.append(int(torch.multinomial(probs[ids[-1]], 1, generator=generator)))
    itos = corpus.vocab.itos
    return "".join(OTHER_SAMPLE if itos[i] == OTHER else itos[i] for i in ids)


def nearest_neighbours(embedding: np.ndarray, char_id: int, candidates: np.ndarray, k: int = 5) -> np.ndarray:
    """Return the ids of the k candidates closest to `char_id` in embedding space (Euclidean),
    nearest first, never `char_id` itself. embedding (V, d); candidates (V,) bool."""
    distances = np.linalg.norm(embedding - embedding[char_id], axis=1)  # (V,)
    distances[~candidates] = np.inf
    distances[char_id] = np.inf
    order = np.argsort(distances, kind="stable")[:k]
    return order[np.isfinite(distances[order])]


def prediction_map(output: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the argmax next-character id and its probability for embedding vectors `points`.

    output (V, d) is the output map, points (n, d) are positions in embedding space. A
    character whose embedding sits at a point predicts exactly what this returns there, so a
    grid of points draws the regions of embedding space that predict each character.
    """
    logits = points @ output.T  # (n, V)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)  # (n,)
    return best, probs[np.arange(len(points)), best]

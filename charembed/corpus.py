"""Vocabulary, code-point ids, bigram counts and the reference losses of a text.

`build_corpus` turns a decoded text and the training settings into a `Corpus`. It holds the
vocabulary, the id of every character and the bigram counts of the training span and of the whole
text. It also holds the reference losses that a trained model is compared with. `load_corpus`
runs the whole ingest path from pasted text or uploaded bytes.

Every step over the characters is vectorised with numpy: characters become Unicode code points
through one UTF-32 encoding, and code points become ids through a lookup table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from charembed.settings import LIMITS, NOTEBOOK_VOCAB_SIZE, VOCAB_MODES, Limits, TrainingSettings
from charembed.text import EMPTY_TEXT_MESSAGE, OTHER, TextError, describe_char, display_char, read_text

__all__ = [
    "OTHER",
    "Corpus",
    "ReferenceLosses",
    "Vocab",
    "bigram_counts",
    "build_corpus",
    "build_vocab",
    "load_corpus",
    "reference_losses",
]

_MAX_NAMED_CHARS = 10  # characters listed by name in an error message


@dataclass(frozen=True)
class Vocab:
    itos: list[str]  # id -> character, ordered by code point; OTHER (if present) is last
    stoi: dict[str, int]  # character -> id; merged rare characters and OTHER itself map to the OTHER id
    mode: str  # "text" or "ascii126"
    merged_chars: int = 0  # how many distinct rare characters were merged into OTHER

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> np.ndarray:
        """Map each character of `text` to its id: (N,) int64, vectorised.

        Merged rare characters get the OTHER id. Raise TextError naming the first character
        that is not in the vocabulary.
        """
        return self._encode_code_points(_code_points(text))

    def decode(self, ids) -> str:
        """Join the characters of `ids` (a sequence, array or tensor of ints) into a string.

        A Python loop, meant for short strings such as predictions. OTHER decodes to "<other>".
        Raise ValueError for an id outside 0 .. vocab_size - 1.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"Ids must be in 0 .. {self.vocab_size - 1}, got {ids.min()} .. {ids.max()}.")
        return "".join(self.itos[i] for i in ids.tolist())

    def _encode_code_points(self, code_points: np.ndarray) -> np.ndarray:
        """Map (N,) code points to (N,) int64 ids through a table indexed by code point."""
        table = self._lookup_table()  # (max code point + 2,), -1 where no id

        # The table's last entry is -1, so every code point beyond the vocabulary lands on it.
        index = code_points
        if code_points.size and code_points.max() >= len(table) - 1:
            index = np.minimum(code_points, len(table) - 1)
        ids = table[index]  # (N,)

        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            raise TextError(self._unknown_char_message(chr(code_points[unknown[0]])))
        return ids

    def _lookup_table(self) -> np.ndarray:
        chars = [char for char in self.stoi if len(char) == 1]  # all but OTHER, which is no character
        code_points = np.fromiter(map(ord, chars), dtype=np.int64, count=len(chars))
        ids = np.fromiter((self.stoi[char] for char in chars), dtype=np.int64, count=len(chars))

        table = np.full(code_points.max(initial=-1) + 2, -1, dtype=np.int64)
        table[code_points] = ids
        return table

    def _unknown_char_message(self, char: str) -> str:
        name = f"{display_char(char)} ({describe_char(char)})"
        if self.mode == "ascii126":
            return (
                f"The character {name} is not in the notebook's vocabulary of code points 0-125. "
                'Choose the "text" vocabulary mode to use the characters of the text.'
            )
        return f"The character {name} is not in the vocabulary: use a character that occurs in the text."


def build_vocab(text: str, mode: str = "text", limits: Limits = LIMITS) -> Vocab:
    """Build the vocabulary of `text` in `mode`.

    "text": the distinct characters of `text` ordered by code point, the rarest merged into OTHER
    above limits.max_vocab_size. "ascii126": code points 0-125; raise TextError naming up to ten
    characters outside that range and suggesting the "text" mode.

    Raise ValueError for an unknown mode.
    """
    return _vocab_from_code_points(_code_points(text), mode, limits)


def bigram_counts(ids: np.ndarray, vocab_size: int) -> torch.Tensor:
    """(V, V) float64 counts: [a, b] = how often id b follows id a. Vectorised (np.bincount).

    >>> bigram_counts(np.array([0, 1, 0, 1]), 2).tolist()
    [[0.0, 2.0], [1.0, 0.0]]
    """
    ids = np.asarray(ids, dtype=np.int64)

    # Number each (current, next) pair by its flat index a * V + b and count the indices.
    pair_index = ids[:-1] * vocab_size  # (N - 1,)
    pair_index += ids[1:]
    counts = np.bincount(pair_index, minlength=vocab_size * vocab_size)  # (V * V,)
    return torch.from_numpy(counts.reshape(vocab_size, vocab_size).astype(np.float64))  # (V, V)


@dataclass(frozen=True)
class ReferenceLosses:
    uniform: float  # ln V: the loss of guessing every character equally
    unigram: float  # entropy of next-character frequencies, ignoring the current character
    bigram: float  # conditional entropy H(next | current): the floor for any model that sees one character


def reference_losses(counts: torch.Tensor) -> ReferenceLosses:
    """Compute the reference losses, in nats per character, of the (V, V) bigram `counts`.

    `bigram` is the mean cross-entropy of predicting each next character with its frequency after
    the current one, counts[a, b] / counts[a].sum(). No model whose only input is the current
    character can reach a lower mean loss. Raise ValueError if `counts` is not square or contains no pairs.
    """
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"Bigram counts must be a square (V, V) matrix, got shape {tuple(counts.shape)}.")
    counts = counts.to(torch.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("Bigram counts contain no pairs, so the reference losses are undefined.")

    # With T pairs, column sums c_b and row sums r_a (xlogy makes 0 log 0 = 0):
    # H(next) = ln T - sum_b c_b ln c_b / T
    # H(next | current) = (sum_a r_a ln r_a - sum_ab C_ab ln C_ab) / T
    next_counts = counts.sum(dim=0)  # (V,)
    current_counts = counts.sum(dim=1)  # (V,)
    unigram = torch.log(total) - torch.xlogy(next_counts, next_counts).sum() / total
    bigram = (torch.xlogy(current_counts, current_counts).sum() - torch.xlogy(counts, counts).sum()) / total

    # Rounding can leave a tiny negative value where the exact value is 0.
    return ReferenceLosses(
        uniform=math.log(counts.shape[0]),
        unigram=max(unigram.item(), 0.0),
        bigram=max(bigram.item(), 0.0),
    )


@dataclass(frozen=True)
class Corpus:
    text: str
    encoding: str
    vocab: Vocab
    ids: np.ndarray  # (N,) int64 ids of the whole text
    counts: torch.Tensor  # (V, V) float64 bigram counts of the training span
    text_counts: torch.Tensor  # (V, V) float64 bigram counts of the whole text (the "real frequencies")
    char_counts: np.ndarray  # (V,) occurrences of each vocabulary entry in the whole text
    references: ReferenceLosses  # from `counts`
    train_pairs: int  # number of (current, next) pairs trained on = counts.sum()
    truncated_chars: int = 0  # characters cut off the source text beyond limits.max_text_chars
    heldout_counts: torch.Tensor | None = None  # (V, V) bigram counts of the held-out end, if any


def build_corpus(
    text: str, settings: TrainingSettings, encoding: str = "pasted text", limits: Limits = LIMITS
) -> Corpus:
    """Build the vocabulary (settings.vocab_mode), ids, counts and reference losses of `text`.

    The training span is the whole text when settings.train_chars is 0, and otherwise its first
    N = settings.train_chars characters each paired with its successor (N pairs, clamped to the
    text). With settings.holdout_fraction f > 0 the pairs of the last f of the text are counted
    apart as held out, and the training span is taken from what precedes them. Raise TextError
    for empty text, fewer than two characters or fewer than two distinct
    characters, and for characters outside the "ascii126" vocabulary.
    """
    if settings.train_chars < 0:
        raise ValueError(f"Training span {settings.train_chars} is negative: choose 0 (whole text) or more.")
    code_points = _code_points(text)  # (N,)
    _check_trainable(code_points)

    vocab = _vocab_from_code_points(code_points, settings.vocab_mode, limits)
    ids = vocab._encode_code_points(code_points)  # (N,)
    text_counts = bigram_counts(ids, vocab.vocab_size)  # (V, V)

    train_ids, heldout_counts = _hold_out(ids, settings.holdout_fraction, vocab.vocab_size)
    if settings.train_chars == 0:
        counts = (
            bigram_counts(train_ids, vocab.vocab_size) if heldout_counts is not None else text_counts.clone()
        )
    else:
        counts = bigram_counts(train_ids[: settings.train_chars + 1], vocab.vocab_size)

    return Corpus(
        text=text,
        encoding=encoding,
        vocab=vocab,
        ids=ids,
        counts=counts,
        text_counts=text_counts,
        char_counts=np.bincount(ids, minlength=vocab.vocab_size),
        references=reference_losses(counts),
        train_pairs=int(counts.sum().item()),
        heldout_counts=heldout_counts,
    )


def _hold_out(ids: np.ndarray, fraction: float, vocab_size: int) -> tuple[np.ndarray, torch.Tensor | None]:
    """Split off the pairs of the last `fraction` of the text. Return the ids left for training and
    the held-out counts (None for fraction 0). The pair that crosses the split is held out, so no
    pair is in both parts. Raise TextError when either part would have no pair."""
    if fraction <= 0:
        return ids, None
    split = round(len(ids) * (1 - fraction))
    if split < 2 or len(ids) - split < 1:
        raise TextError(
            f"The text is too short to hold out {fraction:.0%} of it: both parts need at least one "
            "pair of characters. Use a longer text or a held-out fraction of 0."
        )
    return ids[:split], bigram_counts(ids[split - 1 :], vocab_size)


def load_corpus(source: str | bytes, settings: TrainingSettings, limits: Limits = LIMITS) -> Corpus:
    """Run the whole ingest path: decode pasted text or file bytes (`read_text`), then `build_corpus`.

    Raise TextError for any input that either step rejects.
    """
    decoded = read_text(source, limits)
    corpus = build_corpus(decoded.text, settings, decoded.encoding, limits)
    return dataclasses.replace(corpus, truncated_chars=decoded.truncated_chars)


def _code_points(text: str) -> np.ndarray:
    """Return the (N,) uint32 Unicode code points of `text`, one per character (emoji included).

    "surrogatepass" keeps lone surrogates, which a str may contain, as their own code points.
    """
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _check_trainable(code_points: np.ndarray) -> None:
    """Raise TextError unless the text has at least two characters, two of them different."""
    if code_points.size == 0:
        raise TextError(EMPTY_TEXT_MESSAGE)
    if code_points.size < 2:
        char = display_char(chr(code_points[0]))
        raise TextError(
            f"The text has only one character ({char}), but training needs at least one pair of "
            "a character and its successor. Paste or upload a longer text."
        )
    if not (code_points != code_points[0]).any():
        char = display_char(chr(code_points[0]))
        raise TextError(
            f"The text repeats a single character ({char}), so there is nothing to learn. "
            "Use a text with at least two different characters."
        )


def _vocab_from_code_points(code_points: np.ndarray, mode: str, limits: Limits) -> Vocab:
    if mode == "ascii126":
        return _notebook_vocab(code_points)
    if mode == "text":
        return _text_vocab(code_points, limits.max_vocab_size)
    raise ValueError(f"Unknown vocabulary mode {mode!r}: choose one of {', '.join(VOCAB_MODES)}.")


def _notebook_vocab(code_points: np.ndarray) -> Vocab:
    """Build the notebook's fixed vocabulary: code points 0-125, each its own id."""
    outside = code_points[code_points >= NOTEBOOK_VOCAB_SIZE]
    if outside.size:
        # List the distinct outside characters in the order they first occur in the text.
        distinct, first_index = np.unique(outside, return_index=True)
        in_text_order = distinct[np.argsort(first_index)]
        named = ", ".join(display_char(chr(code_point)) for code_point in in_text_order[:_MAX_NAMED_CHARS])
        more = f" and {len(distinct) - _MAX_NAMED_CHARS} more" if len(distinct) > _MAX_NAMED_CHARS else ""
        raise TextError(
            f"The text contains {len(distinct)} distinct characters outside the notebook's vocabulary "
            f"of code points 0-125: {named}{more}. "
            'Choose the "text" vocabulary mode to use the characters of the text.'
        )

    itos = [chr(code_point) for code_point in range(NOTEBOOK_VOCAB_SIZE)]
    return Vocab(itos=itos, stoi={char: i for i, char in enumerate(itos)}, mode="ascii126")


def _text_vocab(code_points: np.ndarray, max_vocab_size: int) -> Vocab:
    """Build a vocabulary of the distinct characters ordered by code point. Above max_vocab_size,
    the max_vocab_size - 1 most frequent are kept and the rest share the OTHER id, which is last."""
    if max_vocab_size < 2:
        raise ValueError(f"max_vocab_size must be at least 2, got {max_vocab_size}.")
    frequencies = np.bincount(code_points)  # (max code point + 1,)
    present = np.flatnonzero(frequencies)  # distinct code points, ascending

    if len(present) <= max_vocab_size:
        itos = [chr(code_point) for code_point in present]
        return Vocab(itos=itos, stoi={char: i for i, char in enumerate(itos)}, mode="text")

    # Most frequent first, ties broken by code point so the vocabulary does not depend on sort internals.
    by_frequency = present[np.lexsort((present, -frequencies[present]))]
    kept_code_points = np.sort(by_frequency[: max_vocab_size - 1])
    merged_code_points = by_frequency[max_vocab_size - 1 :]

    itos = [chr(code_point) for code_point in kept_code_points] + [OTHER]
    other_id = len(itos) - 1
    stoi = {char: i for i, char in enumerate(itos)}
    stoi.update((chr(code_point), other_id) for code_point in merged_code_points)
    return Vocab(itos=itos, stoi=stoi, mode="text", merged_chars=len(merged_code_points))

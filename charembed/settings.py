"""Training settings and the limits that keep one session from hogging a shared server.

The UI reads every default, choice and bound from here, so the two never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

OPTIMIZERS = ("sgd", "momentum", "adam")  # plain SGD as in the notebook; SGD with momentum 0.9; Adam
VOCAB_MODES = ("text", "ascii126")  # the characters of the text; the notebook's code points 0-125
NOTEBOOK_VOCAB_SIZE = 126  # the notebook's num_classes


@dataclass(frozen=True)
class Limits:
    """Bounds on what one session may ask of the server."""

    max_upload_bytes: int = 10 * 2**20  # 10 MB counted in 2**20 bytes, as Gradio counts: a long novel
    max_text_chars: int = 10_000_000  # characters kept for training; pasted text is cut here too
    max_vocab_size: int = 1_000  # rarer characters merge into one "other" entry; V*V logits stay cheap
    min_embedding_dim: int = 1
    max_embedding_dim: int = 3  # 3 is the most a plot can show
    min_learning_rate: float = 1e-4
    max_learning_rate: float = 100.0  # high enough for a lecturer to show divergence
    max_epochs: int = 100_000
    max_run_seconds: float = 900.0  # a run ends after 15 minutes whatever its epoch count
    max_pace_seconds: float = 120.0  # maximum duration of a presentation-paced run
    max_holdout_fraction: float = 0.5  # at least half of the text is always trained on


LIMITS = Limits()


@dataclass(frozen=True)
class TrainingSettings:
    """Everything that defines one training run. Defaults train the default text to near its floor
    in a few seconds; `notebook()` gives the original notebook's settings."""

    embedding_dim: int = 1  # one number per character, as in the notebook; draws as an axis
    learning_rate: float = 0.01  # Adam's step size: the curve falls over ~200 epochs, visible live
    epochs: int = 1_500  # enough for Adam to settle at d = 1 on a few thousand distinct bigrams
    optimizer: str = "adam"  # converges in seconds; "sgd" is the notebook's
    seed: int = 0  # fixes the nn.Linear initialisation
    train_chars: int = 0  # train on the first N characters (each paired with its successor); 0 = whole text
    vocab_mode: str = "text"  # "ascii126" is the notebook's fixed 126 classes
    accumulate_grad: bool = False  # True reproduces the notebook's missing zero_grad()
    holdout_fraction: float = 0.0  # the end of the text kept out of training, to measure held-out loss

    def validate(self, limits: Limits = LIMITS) -> None:
        """Raise ValueError naming the first setting that is out of range and its allowed range."""
        if not limits.min_embedding_dim <= self.embedding_dim <= limits.max_embedding_dim:
            raise ValueError(
                f"Embedding dimension {self.embedding_dim} is out of range: "
                f"choose {limits.min_embedding_dim} to {limits.max_embedding_dim}."
            )
        lr = self.learning_rate
        if not (math.isfinite(lr) and limits.min_learning_rate <= lr <= limits.max_learning_rate):
            raise ValueError(
                f"Learning rate {lr} is out of range: "
                f"choose {limits.min_learning_rate:g} to {limits.max_learning_rate:g}."
            )
        if not 1 <= self.epochs <= limits.max_epochs:
            raise ValueError(f"Epochs {self.epochs} is out of range: choose 1 to {limits.max_epochs:,}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}.")
        if self.vocab_mode not in VOCAB_MODES:
            raise ValueError(
                f"Unknown vocabulary mode {self.vocab_mode!r}: choose one of {', '.join(VOCAB_MODES)}."
            )
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"Seed {self.seed} is out of range: choose 0 to {2**32 - 1}.")
        if not 0 <= self.train_chars <= limits.max_text_chars:
            raise ValueError(
                f"Training span {self.train_chars:,} is out of range: choose 0 (whole text) "
                f"to {limits.max_text_chars:,} characters."
            )

        if not 0 <= self.holdout_fraction <= limits.max_holdout_fraction:
            raise ValueError(
                f"Held-out fraction {self.holdout_fraction:g} is out of range: choose 0 (none) "
                f"to {limits.max_holdout_fraction:g}."
            )

    @classmethod
    def notebook(cls, accumulate_grad: bool = True) -> TrainingSettings:
        """Return the original notebook's run: first 5 characters, 126 classes, SGD lr 0.1,
        31 updates (its first step plus its 30-epoch loop)."""
        return cls(
            embedding_dim=1,
            learning_rate=0.1,
            epochs=31,
            optimizer="sgd",
            train_chars=5,
            vocab_mode="ascii126",
            accumulate_grad=accumulate_grad,
        )

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

"""Full-batch training from bigram counts, as a generator of progress snapshots.

Every epoch computes the exact mean cross-entropy of the whole training span and its gradient from
the (V, V) count matrix, so an epoch costs O(V^2 d) whatever the length of the text. The caller
decides what to show and when to stop: it may stop iterating at any snapshot and keep the weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from charembed.model import CharModel
from charembed.settings import LIMITS, Limits, TrainingSettings

MOMENTUM = 0.9  # the "momentum" optimizer's coefficient
DIVERGENCE_FACTOR = 10.0  # a loss this many times the starting loss counts as diverged, even if finite
MAX_TRAJECTORY_FRAMES = 512  # embedding snapshots kept per run; older ones are thinned, never the first


@dataclass(frozen=True)
class Snapshot:
    """Progress after `epoch` updates. `status` is "running" until the last snapshot of a run,
    which is "finished", "diverged" or "time limit" with a message for the person."""

    epoch: int
    loss: float  # mean cross-entropy (nats) of the weights after `epoch` updates
    elapsed: float  # seconds since the run started
    status: str = "running"
    message: str = ""
    heldout_loss: float | None = None  # the same weights' loss on the held-out pairs, if any

    @property
    def done(self) -> bool:
        return self.status != "running"


def count_loss_and_grads(
    embedding: torch.Tensor, output: torch.Tensor, counts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the mean cross-entropy over all counted pairs and its gradients for both weights.

    embedding (V, d), output (V, d), counts (V, V) with counts[a, b] = pairs "a then b".
    The gradient of cross-entropy with respect to the logits of a row is n_a * softmax - counts,
    where n_a is how often a occurs as the current character; the chain rule through
    logits = embedding @ output.T gives the two weight gradients. Equal to autograd on the
    per-position loss (checked in tests), at about twice autograd's speed for small V.
    """
    total = counts.sum()
    row_totals = counts.sum(dim=1, keepdim=True)  # (V, 1)

    logits = embedding @ output.T  # (V, V)
    log_probs = torch.log_softmax(logits, dim=1)  # (V, V)
    loss = -(counts * log_probs).sum() / total

    grad_logits = (log_probs.exp() * row_totals - counts) / total  # (V, V)
    grad_embedding = grad_logits @ output  # (V, d)
    grad_output = grad_logits.T @ embedding  # (V, d)
    return loss, grad_embedding, grad_output


def make_optimizer(params: list[torch.nn.Parameter], settings: TrainingSettings) -> torch.optim.Optimizer:
    """Return the optimizer named by settings.optimizer. Plain SGD without momentum is exactly the
    notebook's hand-written update w -= lr * grad.

    The fused implementations take about half the time per step of the default ones on tensors
    this small (measured with torch 2.13 on CPU), where optimizer overhead dominates an epoch.
    """
    lr = settings.learning_rate
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, fused=True)
    if settings.optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, fused=True)
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, fused=True)
    raise ValueError(f"Unknown optimizer {settings.optimizer!r}.")


class Trainer:
    """One training run: the model, its optimizer, and the history of losses and embeddings.

    `run()` yields one Snapshot per epoch. Stopping the iteration keeps the weights as they are;
    a later `run()` continues from there (pause and resume), up to settings.epochs updates.
    """

    def __init__(
        self,
        counts: torch.Tensor,
        settings: TrainingSettings,
        limits: Limits = LIMITS,
        heldout_counts: torch.Tensor | None = None,
    ):
        settings.validate(limits)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
            raise ValueError(f"counts must be a square (V, V) matrix, got shape {tuple(counts.shape)}.")
        if counts.sum() <= 0:
            raise ValueError("counts must contain at least one pair of characters.")

        self.settings = settings
        self.limits = limits
        self.counts = counts.to(torch.float32)
        self.model = CharModel(counts.shape[0], settings.embedding_dim, seed=settings.seed)
        self.params = [self.model.embedding.weight, self.model.output.weight]
        for param in self.params:
            param.requires_grad_(False)  # gradients come from count_loss_and_grads, not autograd
        self.optimizer = make_optimizer(self.params, settings)

        self.epoch = 0  # updates done so far
        self.losses = np.full(settings.epochs + 1, np.nan, dtype=np.float64)  # loss after each epoch
        self.heldout_counts = heldout_counts.to(torch.float32) if heldout_counts is not None else None
        self.heldout_losses = (
            np.full(settings.epochs + 1, np.nan, dtype=np.float64) if heldout_counts is not None else None
        )
        self.trajectory_epochs: list[int] = []
        self.trajectory: list[np.ndarray] = []  # (V, d) embeddings at trajectory_epochs
        self.trajectory_stride = 1
        self.elapsed = 0.0  # seconds spent in run() so far, over all its calls
        self._grads: tuple[torch.Tensor, torch.Tensor] | None = None  # of the current weights
        self._last_finite: list[torch.Tensor] = []  # weights before the latest update
        self.status = "running"
        self.message = ""

    @property
    def done(self) -> bool:
        return self.status != "running"

    def set_learning_rate(self, learning_rate: float) -> None:
        """Change the step size of the next updates (for a paused run)."""
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def run(self) -> Iterator[Snapshot]:
        """Train until settings.epochs updates, divergence or the time limit, yielding a snapshot
        after every epoch (the first one before any update). When a snapshot is yielded the
        weights are exactly those whose loss it reports."""
        started = time.perf_counter() - self.elapsed
        if self._grads is None:
            self._evaluate()
            yield self._snapshot(started)

        while not self.done:
            self._step()
            self._evaluate()
            if not self.done and self.epoch >= self.settings.epochs:
                self._finish("finished", f"Finished {self.epoch:,} epochs.")
            if not self.done and time.perf_counter() - started > self.limits.max_run_seconds:
                self._finish(
                    "time limit",
                    f"Stopped at the time limit of {self.limits.max_run_seconds:.0f} s after "
                    f"{self.epoch:,} epochs. Train again with fewer epochs or a larger learning rate.",
                )
            yield self._snapshot(started)

    def restore(
        self,
        embedding: np.ndarray,
        output: np.ndarray,
        losses: np.ndarray,
        heldout_losses: np.ndarray | None,
        status: str,
        message: str,
    ) -> None:
        """Put saved weights and history in place of a fresh run's: the run is then at epoch
        len(losses) - 1 with those weights, as if it had trained there (for imported models)."""
        epoch = len(losses) - 1
        with torch.no_grad():
            self.model.embedding.weight.copy_(torch.from_numpy(embedding))
            self.model.output.weight.copy_(torch.from_numpy(output))
        self.epoch = epoch
        self.losses[: epoch + 1] = losses
        if self.heldout_losses is not None and heldout_losses is not None:
            self.heldout_losses[: epoch + 1] = heldout_losses
        self.trajectory_epochs = [epoch]
        self.trajectory = [embedding.copy()]
        _, grad_embedding, grad_output = count_loss_and_grads(*self.params, self.counts)
        self._grads = (grad_embedding, grad_output)
        self.status, self.message = status, message

    def step(self) -> Snapshot:
        """Take a single epoch (or, before the first, evaluate the initial weights) and return its
        snapshot. For stepping through a paused run by hand."""
        return next(self.run())

    def _snapshot(self, started: float) -> Snapshot:
        self.elapsed = time.perf_counter() - started
        heldout = float(self.heldout_losses[self.epoch]) if self.heldout_losses is not None else None
        return Snapshot(
            self.epoch, float(self.losses[self.epoch]), self.elapsed, self.status, self.message, heldout
        )

    def _evaluate(self) -> None:
        """Compute the loss and gradients of the current weights; record the loss, or end the run
        and restore the previous weights if the loss diverged."""
        loss, grad_embedding, grad_output = count_loss_and_grads(*self.params, self.counts)
        loss_value = float(loss)
        # Adam's bounded steps keep the loss finite even at absurd learning rates, so a loss far
        # above the start counts as diverged too
        if not math.isfinite(loss_value) or (
            self.epoch > 0 and loss_value > DIVERGENCE_FACTOR * self.losses[0]
        ):
            self._restore_last_finite()
            return

        self.losses[self.epoch] = loss_value
        if self.heldout_counts is not None:
            with torch.no_grad():
                self.heldout_losses[self.epoch] = float(self.model.count_loss(self.heldout_counts))
        self._grads = (grad_embedding, grad_output)
        self._record_trajectory()

    def _step(self) -> None:
        """Take one optimizer update with the gradients of the last evaluation."""
        self._last_finite = [param.detach().clone() for param in self.params]
        for param, grad in zip(self.params, self._grads, strict=True):
            # subtle: the notebook never calls zero_grad(), so each of its steps adds the new
            # gradient to the sum of all earlier ones; accumulate_grad reproduces that
            if self.settings.accumulate_grad and param.grad is not None:
                param.grad += grad
            else:
                param.grad = grad
        self.optimizer.step()
        self.epoch += 1

    def _restore_last_finite(self) -> None:
        """Undo the update that made the loss non-finite and end the run with a message."""
        with torch.no_grad():
            for param, saved in zip(self.params, self._last_finite, strict=True):
                param.copy_(saved)
        self.epoch -= 1
        self._finish(
            "diverged",
            f"The loss diverged at epoch {self.epoch + 1:,} (it became infinite, NaN, or over "
            f"{DIVERGENCE_FACTOR:g} times its starting value), so training "
            f"stopped and kept the weights of epoch {self.epoch:,}. The learning rate "
            f"{self.settings.learning_rate:g} is too large: train again with a smaller one "
            f"(for example {self.settings.learning_rate / 10:g}).",
        )

    def _record_trajectory(self) -> None:
        if self.epoch % self.trajectory_stride:
            return
        self.trajectory_epochs.append(self.epoch)
        self.trajectory.append(self.model.embedding.weight.detach().numpy().copy())
        if len(self.trajectory) >= MAX_TRAJECTORY_FRAMES:
            # keep every other frame and record half as often from now on
            self.trajectory_epochs = self.trajectory_epochs[::2]
            self.trajectory = self.trajectory[::2]
            self.trajectory_stride *= 2

    def _finish(self, status: str, message: str) -> None:
        if self.trajectory_epochs and self.trajectory_epochs[-1] != self.epoch:
            self.trajectory_epochs.append(self.epoch)
            self.trajectory.append(self.model.embedding.weight.detach().numpy().copy())
        self.status = status
        self.message = message

    def loss_history(self, heldout: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Return (epochs, losses) of every epoch computed so far, on the training span or, with
        heldout=True, on the held-out pairs (empty arrays when nothing is held out)."""
        count = self.epoch + 1 if self._grads is not None else 0
        if heldout:
            if self.heldout_losses is None:
                return np.arange(0), np.zeros(0)
            return np.arange(count), self.heldout_losses[:count]
        return np.arange(count), self.losses[:count]


def train(counts: torch.Tensor, settings: TrainingSettings, limits: Limits = LIMITS) -> Trainer:
    """Run a whole training to its end and return the trainer (for scripts and tests)."""
    trainer = Trainer(counts, settings, limits)
    for _ in trainer.run():
        pass
    return trainer

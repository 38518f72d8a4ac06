"""Measure the library against its speed and accuracy targets and print each figure with PASS or FAIL.

    python benchmarks/bench_library.py

(a) one full-batch epoch (loss and gradients) at embedding dimension 1 on a text of at least 5 MiB,
    from the bigram counts versus the per-position PyTorch computation with autograd;
(b) ingest speed of charembed.corpus.load_corpus on the bytes of that text;
(c) epochs per second of Trainer.run() at V = 100, d = 1, one torch thread, for each optimizer;
(d) the default settings on the default text (Python's json module): final loss against the best
    loss reachable at d = 1, and wall time.

It uses no network: the large text is the installed Python standard library's own .py files. The
times in (a) to (c) are the fastest of a few repetitions, because other processes on a shared
machine only ever add time. (d) is timed once. The whole script takes about a minute on 2 vCPU and
needs about 2.5 GB of memory. It exits with status 1 if any target is missed.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from charembed.corpus import build_corpus, load_corpus
from charembed.model import CharModel
from charembed.settings import OPTIMIZERS, Limits, TrainingSettings
from charembed.training import Trainer, count_loss_and_grads, train

# targets
MIN_SPEEDUP = 1_000  # count-based epoch versus per-position epoch
MAX_LOSS_DIFFERENCE = 1e-4  # relative
MIN_INGEST_MB_PER_S = 50.0
MIN_EPOCHS_PER_S = 5_000.0
MAX_GAP_PERCENT = 1.0  # default run's final loss above the best loss reachable at d = 1
MAX_DEFAULT_SECONDS = 5.0

# (a) and (b)
MIN_TEXT_BYTES = 5 * 2**20  # 5 MiB, a little over 5 MB
CHUNK_POSITIONS = 1_000_000  # positions per per-position forward pass: about 0.5 GB of logits at V = 129
PER_POSITION_REPEATS = 3
COUNT_REPEATS = 200
INGEST_REPEATS = 5

# (c)
LOOP_VOCAB_SIZE = 100  # the 99 most frequent characters of the large text plus the merged "other" entry
LOOP_EPOCHS = 20_000
LOOP_REPEATS = 2

# (d): the best loss at d = 1 is estimated by long Adam runs whose learning rate falls in steps
BEST_EPOCHS = 20_000
BEST_LEARNING_RATE = 0.05
BEST_DECAY_EVERY = 5_000  # epochs between learning-rate cuts
BEST_DECAY = 3.0  # each cut divides the learning rate by this
BEST_SEEDS = range(3)


# -----------------------------------------------------------------------------
# helpers


def fastest(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Call `run` `repeats` times and return the shortest wall time in seconds and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """Return |value - reference| / |reference| in the Euclidean norm, computed in float64."""
    return ((value.double() - reference).norm() / reference.norm()).item()


def report(label: str, value: str, target: str, passed: bool | None = None) -> bool:
    """Print one figure. `passed` None marks a figure printed for information, with no target."""
    verdict = ""
    if passed is not None:
        verdict = "PASS" if passed else "FAIL"
    print(f"  {label:<52} {value:>16}   {target:<12} {verdict}")
    return passed is not False


def stdlib_source_bytes(min_bytes: int) -> tuple[bytes, int]:
    """Concatenate the standard library's .py files, in path order, until there are min_bytes.

    Return the bytes and the number of files. Files that are not valid UTF-8 are skipped, so the
    whole is valid UTF-8.
    """
    root = Path(sysconfig.get_path("stdlib"))
    paths = sorted(path for path in root.rglob("*.py") if "site-packages" not in path.parts)

    chunks = []
    size = 0
    for path in paths:
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        chunks.append(data)
        size += len(data)
        if size >= min_bytes:
            return b"".join(chunks), len(chunks)
    raise RuntimeError(
        f"Found only {size:,} bytes of UTF-8 .py files under {root}, fewer than the {min_bytes:,} "
        "needed: lower MIN_TEXT_BYTES or run with a fuller Python installation."
    )


def json_source() -> str:
    with open(json.__file__, encoding="utf-8") as file:
        return file.read()


# -----------------------------------------------------------------------------
# (a) count-based versus per-position epoch


def per_position_epoch(model: CharModel, ids: torch.Tensor) -> float:
    """Run the plain PyTorch loss F.cross_entropy(model(ids[:-1]), ids[1:]) and its autograd backward.

    The positions are processed in chunks whose summed losses and gradients add up to those of the
    whole text, so memory stays bounded. Return the mean loss and leave the gradients in the .grad of
    model's weights.
    """
    model.zero_grad(set_to_none=True)
    pairs = len(ids) - 1
    total = 0.0
    for start in range(0, pairs, CHUNK_POSITIONS):
        stop = min(start + CHUNK_POSITIONS, pairs)
        logits = model(ids[start:stop])  # (chunk, V)
        loss = F.cross_entropy(logits, ids[start + 1 : stop + 1], reduction="sum") / pairs
        loss.backward()
        total += loss.item()
    return total


def bench_epoch(data: bytes) -> bool:
    corpus = load_corpus(data, TrainingSettings())
    ids = torch.from_numpy(corpus.ids)  # (N,)
    counts = corpus.counts.float()  # (V, V), as Trainer uses them
    model = CharModel(corpus.vocab.vocab_size, 1, seed=0)
    embedding = model.embedding.weight.detach()
    output = model.output.weight.detach()
    print(
        f"(a) one epoch, forward + backward, d = 1: {len(data) / 1e6:.2f} MB, {len(ids):,} characters, "
        f"V = {corpus.vocab.vocab_size}, {torch.get_num_threads()} torch threads"
    )

    per_position_seconds, per_position_loss = fastest(
        lambda: per_position_epoch(model, ids), PER_POSITION_REPEATS
    )
    count_seconds, (count_loss, grad_embedding, grad_output) = fastest(
        lambda: count_loss_and_grads(embedding, output, counts), COUNT_REPEATS
    )
    speedup = per_position_seconds / count_seconds
    loss_difference = abs(count_loss.item() - per_position_loss) / per_position_loss

    # Both float32 gradients against the count-based computation in float64.
    _, exact_embedding, exact_output = count_loss_and_grads(
        embedding.double(), output.double(), corpus.counts
    )
    count_grad_error = max(
        relative_error(grad_embedding, exact_embedding), relative_error(grad_output, exact_output)
    )
    per_position_grad_error = max(
        relative_error(model.embedding.weight.grad, exact_embedding),
        relative_error(model.output.weight.grad, exact_output),
    )

    report("per-position epoch (autograd)", f"{per_position_seconds * 1e3:.0f} ms", "")
    report("count-based epoch (count_loss_and_grads)", f"{count_seconds * 1e6:.0f} µs", "")
    passed = report("speedup", f"{speedup:,.0f}×", f">= {MIN_SPEEDUP:,}×", speedup >= MIN_SPEEDUP)
    passed &= report(
        "relative loss difference",
        f"{loss_difference:.1e}",
        f"<= {MAX_LOSS_DIFFERENCE:g}",
        loss_difference <= MAX_LOSS_DIFFERENCE,
    )
    report("count-based gradient error against float64", f"{count_grad_error:.1e}", "")
    report("per-position gradient error against float64", f"{per_position_grad_error:.1e}", "")
    return passed


# -----------------------------------------------------------------------------
# (b) ingest


def bench_ingest(data: bytes) -> bool:
    print(f"(b) ingest: load_corpus on {len(data) / 1e6:.2f} MB (decode, vocabulary, ids, bigram counts)")
    seconds, _ = fastest(lambda: load_corpus(data, TrainingSettings()), INGEST_REPEATS)
    mb_per_s = len(data) / 1e6 / seconds

    report("load_corpus", f"{seconds * 1e3:.0f} ms", "")
    return report(
        "ingest speed",
        f"{mb_per_s:.0f} MB/s",
        f">= {MIN_INGEST_MB_PER_S:g} MB/s",
        mb_per_s >= MIN_INGEST_MB_PER_S,
    )


# -----------------------------------------------------------------------------
# (c) training loop


def run_all(trainer: Trainer) -> int:
    """Iterate trainer.run() to its end, as the app does, and return the number of snapshots."""
    return sum(1 for _ in trainer.run())


def bench_loop(data: bytes) -> bool:
    counts = load_corpus(data, TrainingSettings(), Limits(max_vocab_size=LOOP_VOCAB_SIZE)).counts
    print(
        f"(c) training loop: Trainer.run() to its end, {LOOP_EPOCHS:,} epochs, V = {counts.shape[0]}, "
        f"d = 1, {torch.get_num_threads()} torch thread"
    )

    passed = True
    for optimizer in OPTIMIZERS:
        settings = TrainingSettings(optimizer=optimizer, epochs=LOOP_EPOCHS)
        seconds, snapshots = fastest(
            lambda settings=settings: run_all(Trainer(counts, settings)), LOOP_REPEATS
        )
        assert snapshots == LOOP_EPOCHS + 1, f"{optimizer}: {snapshots} snapshots"
        epochs_per_s = LOOP_EPOCHS / seconds
        passed &= report(
            f"{optimizer}: epochs per second",
            f"{epochs_per_s:,.0f}",
            f">= {MIN_EPOCHS_PER_S:,.0f}",
            epochs_per_s >= MIN_EPOCHS_PER_S,
        )
    return passed


# -----------------------------------------------------------------------------
# (d) default run on the default text


def best_loss_at_dim_1(counts: torch.Tensor, seed: int) -> float:
    """Train with Adam for BEST_EPOCHS, cutting the learning rate in steps, and return the lowest loss."""
    settings = TrainingSettings(
        embedding_dim=1, optimizer="adam", learning_rate=BEST_LEARNING_RATE, epochs=BEST_EPOCHS, seed=seed
    )
    trainer = Trainer(counts, settings)
    learning_rate = BEST_LEARNING_RATE
    lowest = float("inf")
    for snapshot in trainer.run():
        lowest = min(lowest, snapshot.loss)
        if snapshot.epoch and snapshot.epoch % BEST_DECAY_EVERY == 0:
            learning_rate /= BEST_DECAY
            trainer.set_learning_rate(learning_rate)
    return lowest


def first_epoch_within(losses, target: float) -> int | None:
    """Return the first epoch whose loss is at most `target`, or None."""
    for epoch, loss in enumerate(losses):
        if loss <= target:
            return epoch
    return None


def bench_default_run() -> bool:
    settings = TrainingSettings()
    text = json_source()
    print(
        f"(d) default run: {settings.optimizer}, learning rate {settings.learning_rate:g}, "
        f"{settings.epochs:,} epochs, d = {settings.embedding_dim}, seed {settings.seed}, "
        f"on {json.__file__} ({len(text):,} characters), {torch.get_num_threads()} torch thread"
    )

    started = time.perf_counter()
    corpus = build_corpus(text, settings)
    trainer = train(corpus.counts, settings)
    seconds = time.perf_counter() - started
    losses = trainer.loss_history()[1]
    final = float(losses[-1])

    best = min(best_loss_at_dim_1(corpus.counts, seed) for seed in BEST_SEEDS)
    gap_percent = (final - best) / best * 100
    within = first_epoch_within(losses, best * (1 + MAX_GAP_PERCENT / 100))

    report("uniform guess, ln V", f"{corpus.references.uniform:.4f}", "")
    report("bigram floor, any model", f"{corpus.references.bigram:.4f}", "")
    report(f"best loss at d = 1 (Adam, {BEST_EPOCHS:,} epochs, {len(BEST_SEEDS)} seeds)", f"{best:.5f}", "")
    report("default run: final loss", f"{final:.5f}", "")
    report("default run: first epoch within 1 % of best", f"{within}", "")
    passed = report(
        "default run: gap to best loss",
        f"{gap_percent:.2g} %",
        f"<= {MAX_GAP_PERCENT:g} %",
        gap_percent <= MAX_GAP_PERCENT,
    )
    passed &= report(
        "default run: wall time (build_corpus + train)",
        f"{seconds:.2f} s",
        f"<= {MAX_DEFAULT_SECONDS:g} s",
        seconds <= MAX_DEFAULT_SECONDS,
    )
    return passed


# -----------------------------------------------------------------------------
# main


def print_machine() -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, load average {load}; "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def time_first_optimizer() -> None:
    """Report the one-time cost of the first optimizer in a process, which (c) and (d) then exclude.

    torch.optim imports torch._dynamo when the first optimizer is constructed (torch 2.13).
    """
    counts = torch.ones(3, 3)
    started = time.perf_counter()
    Trainer(counts, TrainingSettings(epochs=1))
    report("first Trainer in this process (one-time imports)", f"{time.perf_counter() - started:.2f} s", "")


def main() -> int:
    print_machine()
    data, files = stdlib_source_bytes(MIN_TEXT_BYTES)
    print(f"large text: {files} .py files of {sysconfig.get_path('stdlib')}, {len(data):,} bytes")
    print()

    passed = bench_epoch(data)
    passed &= bench_ingest(data)

    torch.set_num_threads(1)  # the app runs torch with one thread per process
    time_first_optimizer()
    passed &= bench_loop(data)
    passed &= bench_default_run()

    print()
    print_machine()
    print("all targets met" if passed else "some targets missed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

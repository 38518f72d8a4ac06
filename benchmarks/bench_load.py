"""Serve the app and let 30 sessions train and predict at once; print errors, cross-talk and latencies.

    python benchmarks/bench_load.py [--sessions 30]

The script starts `python app.py` itself on 127.0.0.1 at a free port and stops it by its PID at
the end. Each session is one gradio_client Client in its own thread, and all of them press Train
at the same moment. Session i trains on its own random text over four letters that no other session
uses (from Latin Extended-A, U+0100 to U+017F), with its own seed and epoch count. After its run it
requests PREDICTIONS predictions, one character each.

What it prints:
- errors: exceptions, runs that did not finish, rejected requests, empty predictions (target 0);
- cross-talk (target 0): a letter of another session anywhere in a session's outputs, or a final
  loss curve whose length or values differ from the same run trained here with the library;
- time from pressing Train to the first chart update, p50 and p95;
- prediction latency while other sessions train, p50 and p95;
- the server's peak resident memory (VmHWM in /proc/PID/status).

It exits with status 1 if there are errors or cross-talk. It needs no network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "tests"))

from conftest import decode_array, plot_traces  # noqa: E402 (after the path setup)

from charembed.corpus import build_corpus  # noqa: E402
from charembed.settings import TrainingSettings  # noqa: E402
from charembed.training import train  # noqa: E402

SESSIONS = 30
LETTERS_PER_SESSION = 4  # 30 sessions x 4 letters fit in Latin Extended-A's 128 code points
FIRST_LETTER = 0x0100
TEXT_CHARS = 20_000
BASE_EPOCHS = 1_000  # session i trains BASE_EPOCHS + 7 i epochs, so every curve has its own length
LEARNING_RATE = 0.05
PREDICTIONS = 10  # queries per session after its run
LOSS_TOLERANCE = 1e-5  # relative; the chart sends losses as float32

STARTUP_SECONDS = 90.0  # `python app.py` imports torch and gradio and builds the demo
RUN_TIMEOUT_SECONDS = 300.0  # one session's Train, queue wait included: longer than an audience waits
TOTAL_TIMEOUT_SECONDS = 600.0  # the whole load phase
STOP_SECONDS = 10.0  # SIGTERM, then SIGKILL if the server has not exited


# -----------------------------------------------------------------------------
# one session


@dataclass
class SessionPlan:
    index: int
    vocab: list[str]  # the letters only this session uses
    text: str
    settings: TrainingSettings
    expected_losses: np.ndarray  # (epochs + 1,) the same run trained here with the library


@dataclass
class SessionResult:
    errors: list[str] = field(default_factory=list)
    cross_talk: list[str] = field(default_factory=list)
    first_update_seconds: float | None = None
    run_seconds: float | None = None  # from pressing Train to the last chart update
    updates: int = 0  # chart updates received during the run
    prediction_seconds: list[float] = field(default_factory=list)  # queries made while others trained
    idle_prediction_seconds: list[float] = field(default_factory=list)  # queries made after all runs


def plan_session(index: int) -> SessionPlan:
    """Make session `index`'s letters, text and settings, and train the same run locally."""
    first = FIRST_LETTER + LETTERS_PER_SESSION * index
    vocab = [chr(code_point) for code_point in range(first, first + LETTERS_PER_SESSION)]
    rng = random.Random(index)
    # a biased walk, so each text has its own bigram statistics
    weights = [rng.random() + 0.1 for _ in vocab]
    text = "".join(rng.choices(vocab, weights=weights, k=TEXT_CHARS))

    settings = TrainingSettings(
        embedding_dim=1 + index % 3,
        learning_rate=LEARNING_RATE,
        epochs=BASE_EPOCHS + 7 * index,
        optimizer="adam",
        seed=index,
    )
    trainer = train(build_corpus(text, settings).counts, settings)
    return SessionPlan(index, vocab, text, settings, trainer.losses.copy())


def session_letters(text: str) -> set[str]:
    """Return the letters of the benchmark's range that occur in `text`."""
    end = FIRST_LETTER + LETTERS_PER_SESSION * SESSIONS
    return {char for char in text if FIRST_LETTER <= ord(char) < end}


def output_text(output) -> str:
    """Join all text of one event output (strings, and figures as JSON strings) for the letter check."""
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        return " ".join(output_text(value) for value in output.values())
    if isinstance(output, list | tuple):
        return " ".join(output_text(value) for value in output)
    return ""


def check_curve(plan: SessionPlan, loss_plot, result: SessionResult) -> None:
    """Compare the final loss chart's current curve with the run trained here."""
    traces = [trace for trace in plot_traces(loss_plot) if trace.get("name") == "this run"]
    if len(traces) != 1:
        result.cross_talk.append(f"session {plan.index}: {len(traces)} 'this run' curves")
        return
    epochs = np.asarray(decode_array(traces[0]["x"]), dtype=np.int64)
    losses = np.asarray(decode_array(traces[0]["y"]))
    if epochs[-1] != plan.settings.epochs:
        result.cross_talk.append(
            f"session {plan.index}: curve ends at epoch {epochs[-1]}, not {plan.settings.epochs}"
        )
        return
    expected = plan.expected_losses[epochs]
    error = float(np.max(np.abs(losses - expected) / expected))
    if error > LOSS_TOLERANCE:
        result.cross_talk.append(f"session {plan.index}: loss curve differs by {error:.2e} (relative)")


def run_session(plan: SessionPlan, url: str, start: threading.Barrier, load: LoadState) -> SessionResult:
    """Train and predict as one visitor; record errors, cross-talk and timings."""
    from gradio_client import Client

    result = SessionResult()
    try:
        client = Client(url, verbose=False, download_files=False)
        start.wait(timeout=STARTUP_SECONDS)
        train_and_check(client, plan, load, result)
        predict_and_check(client, plan, load, result)
    except Exception as error:  # a benchmark counts every failure instead of stopping at the first
        result.errors.append(f"session {plan.index}: {type(error).__name__}: {error}")
    return result


def train_and_check(client, plan: SessionPlan, load: LoadState, result: SessionResult) -> None:
    settings = plan.settings
    load.training_started()
    try:
        pressed = time.perf_counter()
        job = client.submit(
            text=plan.text,
            embedding_dim=settings.embedding_dim,
            learning_rate=settings.learning_rate,
            epochs=settings.epochs,
            optimizer=settings.optimizer,
            seed=settings.seed,
            api_name="/train",
        )
        updates = []
        for update in job:
            if not updates:
                result.first_update_seconds = time.perf_counter() - pressed
            updates.append(update)
            if time.perf_counter() - pressed > RUN_TIMEOUT_SECONDS:
                job.cancel()
                raise TimeoutError(f"Train did not finish in {RUN_TIMEOUT_SECONDS:g} s")
        result.run_seconds = time.perf_counter() - pressed
        result.updates = len(updates)
    finally:
        load.training_ended()

    if job.exception() is not None:
        result.errors.append(f"session {plan.index}: Train failed: {job.exception()}")
        return
    status = updates[-1][2] if updates else ""
    if f"Epoch {settings.epochs:,} / {settings.epochs:,}" not in status:
        result.errors.append(f"session {plan.index}: run did not finish: {status[:120]!r}")
    foreign = session_letters(output_text(updates)) - set(plan.vocab)
    if foreign:
        result.cross_talk.append(f"session {plan.index}: Train output shows {sorted(foreign)}")
    check_curve(plan, updates[-1][0], result)


def predict_and_check(client, plan: SessionPlan, load: LoadState, result: SessionResult) -> None:
    rng = random.Random(1_000 + plan.index)
    for _ in range(PREDICTIONS):
        char = rng.choice(plan.vocab)
        others_training = load.active() > 0
        started = time.perf_counter()
        output = client.predict(char, api_name="/predict")
        elapsed = time.perf_counter() - started
        (result.prediction_seconds if others_training else result.idle_prediction_seconds).append(elapsed)

        shown, explanation = output[0], output[1]
        if shown not in plan.vocab:
            result.errors.append(
                f"session {plan.index}: predicted {shown!r} after {char!r}: {explanation[:80]!r}"
            )
        foreign = session_letters(output_text(output)) - set(plan.vocab)
        if foreign:
            result.cross_talk.append(f"session {plan.index}: prediction shows {sorted(foreign)}")


class LoadState:
    """How many sessions are training right now, shared by the session threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._training = 0

    def training_started(self) -> None:
        with self._lock:
            self._training += 1

    def training_ended(self) -> None:
        with self._lock:
            self._training -= 1

    def active(self) -> int:
        with self._lock:
            return self._training


# -----------------------------------------------------------------------------
# the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start `python app.py` on 127.0.0.1 and wait until it serves its page. Return (process, url)."""
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=log)

    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with status {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise RuntimeError(f"app.py did not serve {url} within {STARTUP_SECONDS:g} s; see {log_path}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int, field_name: str) -> int:
    """Read one memory field (e.g. "VmHWM", the peak resident set) of a process in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise KeyError(f"{field_name} not in /proc/{pid}/status")


# -----------------------------------------------------------------------------
# report


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def print_machine() -> None:
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


def print_report(
    results: list[SessionResult], wall_seconds: float, baseline_kib: int, peak_kib: int, cpu: dict[str, float]
) -> bool:
    errors = [error for result in results for error in result.errors]
    cross_talk = [problem for result in results for problem in result.cross_talk]
    first_updates = [r.first_update_seconds for r in results if r.first_update_seconds is not None]
    busy = [seconds for result in results for seconds in result.prediction_seconds]
    idle = [seconds for result in results for seconds in result.idle_prediction_seconds]

    print(f"sessions: {len(results)}, wall time {wall_seconds:.1f} s")
    print(f"errors: {len(errors)}")
    for error in errors[:10]:
        print(f"  {error}")
    print(f"cross-talk: {len(cross_talk)}")
    for problem in cross_talk[:10]:
        print(f"  {problem}")
    print(
        f"time to first chart update: p50 {percentile(first_updates, 50):.2f} s, "
        f"p95 {percentile(first_updates, 95):.2f} s, max {max(first_updates, default=float('nan')):.2f} s"
    )
    run_seconds = [r.run_seconds for r in results if r.run_seconds is not None]
    updates = [r.updates for r in results if r.updates]
    print(
        f"Train to last update: p50 {percentile(run_seconds, 50):.2f} s, "
        f"p95 {percentile(run_seconds, 95):.2f} s; "
        f"chart updates per run: p50 {percentile(updates, 50):.0f}, max {max(updates, default=0)}"
    )
    print(
        f"prediction latency while others train ({len(busy)} queries): "
        f"p50 {percentile(busy, 50) * 1000:.0f} ms, p95 {percentile(busy, 95) * 1000:.0f} ms"
    )
    print(
        f"prediction latency after all runs ({len(idle)} queries): "
        f"p50 {percentile(idle, 50) * 1000:.0f} ms, p95 {percentile(idle, 95) * 1000:.0f} ms"
    )
    print(
        f"server memory: {baseline_kib / 1024:.0f} MiB resident before the load, "
        f"peak {peak_kib / 1024:.0f} MiB (VmHWM)"
    )
    print(
        f"CPU time during the load: server {cpu['server']:.0f} s, the clients (this process) "
        f"{cpu['clients']:.0f} s, in {wall_seconds:.0f} s on {os.cpu_count()} CPUs"
    )
    return not errors and not cross_talk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS, help="sessions at once (at most 32)")
    args = parser.parse_args()
    if not 1 <= args.sessions <= 128 // LETTERS_PER_SESSION:
        parser.error(f"--sessions must be 1 to {128 // LETTERS_PER_SESSION}")

    print_machine()
    torch.set_num_threads(1)  # as the app does, so the local runs match the server's exactly
    plans = [plan_session(index) for index in range(args.sessions)]

    log_path = Path(tempfile.mkdtemp(prefix="bench_load_")) / "server.log"
    process, url = start_server(log_path)
    print(f"server: PID {process.pid} at {url}, log {log_path}")
    try:
        baseline_kib = memory_kib(process.pid, "VmRSS")
        cpu = {"server": -cpu_seconds(process.pid), "clients": -cpu_seconds(os.getpid())}
        load = LoadState()
        start = threading.Barrier(len(plans))
        results: list[SessionResult | None] = [None] * len(plans)

        def worker(plan: SessionPlan) -> None:
            results[plan.index] = run_session(plan, url, start, load)

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(plan,), daemon=True) for plan in plans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, TOTAL_TIMEOUT_SECONDS - (time.perf_counter() - started)))
        wall_seconds = time.perf_counter() - started
        peak_kib = memory_kib(process.pid, "VmHWM")
        cpu["server"] += cpu_seconds(process.pid)
        cpu["clients"] += cpu_seconds(os.getpid())
    finally:
        stop_server(process)

    finished = [result if result is not None else SessionResult(errors=["timed out"]) for result in results]
    passed = print_report(finished, wall_seconds, baseline_kib, peak_kib, cpu)
    print_machine()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

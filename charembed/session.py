"""What one browser session owns, and how it turns library objects into what the page shows.

No Gradio here: the UI module keeps a `Session` in Gradio session state and calls these methods,
so everything below can be tested and benchmarked without a server.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from charembed import export, figures
from charembed.corpus import Corpus, build_corpus
from charembed.inference import Prediction, nearest_neighbours, predict_next, prediction_map, sample
from charembed.model import orientation_signs
from charembed.settings import LIMITS, Limits, TrainingSettings
from charembed.text import describe_char, display_char
from charembed.training import Snapshot, Trainer, train

FRAME_SECONDS = 0.1  # the status line and progress bar change about 10 times a second during a run
MAX_PREVIOUS_RUNS = 2  # faded curves of earlier runs kept on the loss chart
MAX_CURVE_POINTS = 600  # loss points sent per redraw, so a long run costs the browser what a short one does
PLOT_WIDTH_PX = 600  # the embedding plot's width at a 1280-pixel window, which label spacing assumes
PASTED = "pasted text"  # the encoding shown for text typed or pasted into the box
ZEROED_LABEL = "same run, gradients zeroed"  # the comparison curve of the notebook preset


@dataclass
class Session:
    """A browser session's text, model and history. Gradio deep-copies a fresh one per session."""

    upload_text: str | None = None  # the text of the last uploaded file or example, as decoded
    upload_encoding: str = PASTED  # how upload_text was decoded
    corpus: Corpus | None = None  # the text and counts of the current run
    trainer: Trainer | None = None  # the current run; None before the first Train
    previous: list[figures.Curve] = field(default_factory=list)  # earlier runs, oldest first
    run_id: int = 0  # bumped by Train and Stop; a live run ends as soon as it no longer matches
    active_run: int | None = None  # the run id whose loop is executing right now, if any
    page_url: str = "/"  # the page's own address, for shareable links
    tickets: int = 0  # Train requests numbered as they arrive (see take_ticket)

    # ---- text

    def set_upload(self, text: str, encoding: str) -> None:
        """Remember how a file or example was decoded, so its encoding is shown while unedited."""
        self.upload_text = text
        self.upload_encoding = encoding

    def encoding_of(self, text: str) -> str:
        return self.upload_encoding if text == self.upload_text else PASTED

    def build_corpus(self, text: str, settings: TrainingSettings) -> Corpus:
        """Return the corpus of `text` for these settings. Raise TextError for unusable text."""
        return build_corpus(text, settings, encoding=self.encoding_of(text), limits=self.limits)

    @property
    def limits(self) -> Limits:
        return LIMITS

    # ---- runs

    def take_ticket(self) -> int:
        """Number a Train request as it arrives, so that of two requests in flight the later one
        wins even when the earlier one takes longer to prepare its text."""
        self.tickets += 1
        return self.tickets

    def start_run(self, corpus: Corpus, settings: TrainingSettings, ticket: int | None = None) -> int | None:
        """Replace the current run with a fresh one and return its id; any live run ends. Return
        None, starting nothing, when `ticket` is older than the newest Train request."""
        if ticket is not None and ticket != self.tickets:
            return None
        trainer = Trainer(corpus.counts, settings, self.limits, heldout_counts=corpus.heldout_counts)
        if self.trainer is not None:
            self.previous = [*self.previous, self._curve(self.trainer, "previous run")][-MAX_PREVIOUS_RUNS:]
        # the ids of a long text take 8 bytes a character and nothing after counting needs them
        self.corpus = dataclasses.replace(corpus, ids=corpus.ids[:0])
        self.trainer = trainer
        self.run_id += 1
        return self.run_id

    def resume_run(self, learning_rate: float | None = None) -> int:
        """Continue the current (stopped) run as a new live run, optionally with a new learning
        rate, and return its id. Raise ValueError when there is no run or it has ended."""
        if self.trainer is None:
            raise ValueError("There is no run to resume. Press Train to start one.")
        if self.trainer.done:
            raise ValueError("The run has ended. Press Train to start a new one.")
        self.stop_run()
        if learning_rate is not None:
            self.trainer.set_learning_rate(learning_rate)
        self.run_id += 1
        return self.run_id

    def step_run(self, learning_rate: float | None = None) -> Snapshot:
        """Take one epoch of the current (stopped) run. Raise ValueError as resume_run does."""
        self.resume_run(learning_rate)
        return self.trainer.step()

    def start_notebook_run(self, text: str) -> int:
        """Start the original notebook's run on `text` (gradients accumulate), with the same run
        trained with zeroed gradients drawn beside it for comparison. Return the run id."""
        corpus = self.build_corpus(text, TrainingSettings.notebook(accumulate_grad=True))
        zeroed = train(corpus.counts, TrainingSettings.notebook(accumulate_grad=False), self.limits)
        run_id = self.start_run(corpus, TrainingSettings.notebook(accumulate_grad=True))
        self.previous = [self._curve(zeroed, ZEROED_LABEL)]
        return run_id

    def stop_run(self, wait_seconds: float = 1.0) -> bool:
        """End the live run, if any, and wait until its loop has let go of the weights.
        Return whether a run was live."""
        was_live = self.active_run is not None
        self.run_id += 1
        deadline = time.monotonic() + wait_seconds
        while self.active_run is not None and time.monotonic() < deadline:
            time.sleep(0.005)
        return was_live

    def live(self, run_id: int, pace_seconds: float = 0.0) -> Iterator[Snapshot]:
        """Train the run `run_id` and yield the snapshots worth drawing: one every FRAME_SECONDS,
        the first and the last. With pace_seconds > 0 the run is slowed to last about that long.
        Ends without a final snapshot when the run is stopped or replaced."""
        trainer = self.trainer
        epochs = trainer.settings.epochs
        self.active_run = run_id
        started = time.monotonic()
        next_frame = started
        try:
            for snapshot in trainer.run():
                if self.run_id != run_id:
                    return
                if pace_seconds > 0:
                    self._wait_for_pace(run_id, started + pace_seconds * snapshot.epoch / epochs)
                now = time.monotonic()
                if snapshot.done or now >= next_frame:
                    next_frame = now + FRAME_SECONDS
                    yield snapshot
        finally:
            if self.active_run == run_id:
                self.active_run = None

    def _wait_for_pace(self, run_id: int, until: float) -> None:
        # short sleeps, so Stop and a closed tab are noticed within a frame
        while self.run_id == run_id and time.monotonic() < until:
            time.sleep(min(0.02, max(0.0, until - time.monotonic())))

    def export_files(self, directory: Path) -> list[Path]:
        """Write the model bundle, the Embedding Projector TSV pair and the loss CSV into
        `directory`. Raise ValueError before training."""
        if self.trainer is None:
            raise ValueError("There is no model to export yet. Train one first.")
        return export.export_files(self.trainer, self.corpus, directory)

    def import_model(self, data: bytes) -> None:
        """Replace the current model with an exported bundle, for exploring. Raise TextError for a
        file that is not one of our bundles; the current model is then kept."""
        trainer, corpus = export.import_bundle(data, self.limits)
        self.stop_run()
        if self.trainer is not None:
            self.previous = [*self.previous, self._curve(self.trainer, "previous run")][-MAX_PREVIOUS_RUNS:]
        self.trainer, self.corpus = trainer, corpus
        self.run_id += 1

    def release(self) -> None:
        """Stop any live run and drop the text and model (the tab was closed)."""
        self.run_id += 1
        self.corpus = None
        self.trainer = None
        self.previous = []
        self.upload_text = None

    # ---- what the page shows

    def loss_figure(self) -> go.Figure:
        current = self._curve(self.trainer, "this run") if self.trainer is not None else None
        references = {}
        total_epochs = 1
        if self.corpus is not None and self.trainer is not None:
            refs = self.corpus.references
            references = {
                "uniform guess": (refs.uniform, "ln V: every character equally likely, nothing learned"),
                "unigram model": (
                    refs.unigram,
                    "knows how often each character occurs, ignores the current one",
                ),
                "best bigram model": (
                    refs.bigram,
                    "the floor: the lowest loss any model that sees only the current character can reach",
                ),
            }
            total_epochs = self.trainer.settings.epochs
        heldout = None
        if self.trainer is not None and self.trainer.heldout_losses is not None:
            heldout = self._curve(self.trainer, "held-out text", heldout=True)
        return figures.loss_figure(current, self.previous, references, total_epochs, heldout=heldout)

    def oriented_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the (V, d) embedding table and output map with each axis oriented so the text's
        most frequent character is on its positive side (the model itself is unchanged)."""
        model = self.trainer.model
        reference_id = int(self.corpus.char_counts.argmax())
        signs = orientation_signs(model.embedding.weight, reference_id)  # (d,)
        embedding = (model.embedding.weight.detach() * signs).numpy()
        output = (model.output.weight.detach() * signs).numpy()
        return embedding, output

    def untrained(self) -> np.ndarray:
        """(V,) bool: entries that never occur as the current character of the training span.
        Their embedding gets no gradient, so it keeps its random initial value."""
        return (self.corpus.counts.sum(dim=1) == 0).numpy()

    def embedding_figure(self, highlight: int | None = None, frame: int | None = None) -> go.Figure:
        """Draw the embeddings now, or at trajectory `frame` of the run, with the sign band (d = 1)
        or prediction regions (d = 2) of the current output map."""
        if self.trainer is None or self.corpus is None:
            return figures.empty_figure("Train a model to see its character embeddings")
        embedding, output = self.oriented_weights()
        if frame is not None:
            embedding = self.trajectory()[1][frame]
        band = None
        if embedding.shape[1] < 3:
            points = figures.band_points(embedding, width_px=PLOT_WIDTH_PX)
            band = (points, *prediction_map(output, points))
        untrained = self.untrained()
        return figures.embedding_figure(
            labels=self.labels(),
            names=[describe_char(char) for char in self.corpus.vocab.itos],
            embedding=embedding,
            char_counts=self.corpus.char_counts,
            highlight=highlight,
            unseen=untrained if untrained.any() else None,
            legend_names=figures.UNTRAINED_LEGEND_NAMES,
            band=band,
            width_px=PLOT_WIDTH_PX,
        )

    def labels(self) -> list[str]:
        return [display_char(char) for char in self.corpus.vocab.itos]

    def trajectory(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the run's (T,) epochs and (T, V, d) embeddings, oriented as the final model is."""
        trainer = self.trainer
        model = trainer.model
        signs = orientation_signs(model.embedding.weight, int(self.corpus.char_counts.argmax())).numpy()
        return np.array(trainer.trajectory_epochs), np.stack(trainer.trajectory) * signs

    def replay_frame(self, epoch: int) -> int:
        """Return the index of the last trajectory frame recorded at or before `epoch`."""
        epochs, _ = self.trajectory()
        return max(int(np.searchsorted(epochs, epoch, side="right")) - 1, 0)

    def trajectory_figure(self, highlight: int | None = None) -> go.Figure:
        if self.trainer is None or not self.trainer.trajectory:
            return figures.empty_figure("Train a model to see how its embeddings moved")
        epochs, trajectory = self.trajectory()
        return figures.trajectory_figure(
            epochs,
            trajectory,
            self.labels(),
            [describe_char(char) for char in self.corpus.vocab.itos],
            highlight,
            order=np.argsort(-self.corpus.char_counts, kind="stable"),
            width_px=PLOT_WIDTH_PX,
        )

    def status(self, snapshot: Snapshot | None = None) -> str:
        """Return the status: epoch, loss, distance above the floor and speed, then the run's
        closing message if it has one."""
        trainer = self.trainer
        if trainer is None:
            return "Not trained yet. Choose a text and press Train."
        if snapshot is None:
            snapshot = Snapshot(
                trainer.epoch,
                float(trainer.losses[trainer.epoch]),
                trainer.elapsed,
                trainer.status,
                trainer.message,
            )
        floor = self.corpus.references.bigram
        speed = snapshot.epoch / snapshot.elapsed if snapshot.elapsed > 0 else 0.0
        line = (
            f"Epoch {snapshot.epoch:,} / {trainer.settings.epochs:,} · loss {snapshot.loss:.4f} "
            f"({snapshot.loss - floor:+.4f} above the best bigram loss {floor:.4f}) · {speed:,.0f} epochs/s"
        )
        if snapshot.heldout_loss is not None:
            line += f" · held-out loss {snapshot.heldout_loss:.4f}"
        return f"{line}\n{snapshot.message}" if snapshot.message else line

    def progress(self) -> float:
        """Fraction of the run's epochs done, 0 to 1."""
        if self.trainer is None:
            return 0.0
        return self.trainer.epoch / self.trainer.settings.epochs

    def predict(self, char: str) -> Prediction:
        """Return the trained model's prediction after `char`. Raise TextError for a bad query."""
        return predict_next(self.trainer.model, self.corpus, char)

    def prediction_figure(self, prediction: Prediction, k: int = 10) -> go.Figure:
        top = prediction.top_ids(k)
        itos = self.corpus.vocab.itos
        return figures.prediction_figure(
            labels=[display_char(itos[i]) for i in top],
            predicted=prediction.probs[top],
            actual=prediction.actual[top],
            query_label=display_char(prediction.char),
        )

    def explain(self, prediction: Prediction) -> str:
        """Return a sentence or two on why the model predicts what it does (plain text, no markup)."""
        itos = self.corpus.vocab.itos
        predicted = display_char(itos[prediction.predicted_id])
        query = display_char(prediction.char)
        real = (
            f"In the text, {display_char(itos[int(prediction.actual.argmax())])} follows {query} most often "
            f"({prediction.actual.max():.0%} of {prediction.occurrences:,} "
            f"{'time' if prediction.occurrences == 1 else 'times'})."
            if prediction.occurrences
            else f"In the text, {query} is never followed by another character."
        )
        if self.untrained()[prediction.char_id]:
            real += (
                f" {query} never occurs in the training span, so its embedding got no gradient and "
                f"still has its random initial value."
            )
        model = self.trainer.model
        if model.embedding_dim > 1:
            return (
                f"After {query} the model predicts {predicted} with probability "
                f"{prediction.probs.max():.0%}. {real} {self._neighbours_sentence(prediction.char_id)}"
            )

        # d = 1: the logit of b after a is e[a] * w[b], so only the sign of e[a] picks the argmax
        embedding, output = self.oriented_weights()
        e = float(embedding[prediction.char_id, 0])
        w = output[:, 0]
        high, low = display_char(itos[int(w.argmax())]), display_char(itos[int(w.argmin())])
        side = "positive" if e >= 0 else "negative"
        pick = "largest" if e >= 0 else "smallest"
        return (
            f"After {query} the model predicts {predicted} with probability {prediction.probs.max():.0%}. "
            f"{real} With one embedding dimension the logit of b after a is e[a] × w[b], so the ranking "
            f"depends only on the sign of e[a]: {query} has e = {e:+.3f} ({side}), which picks the "
            f"character with the {pick} w. Every character with a positive embedding predicts {high}, "
            f"every negative one predicts {low}: at most two different predictions."
        )

    def _neighbours_sentence(self, char_id: int) -> str:
        embedding, _ = self.oriented_weights()
        candidates = (self.corpus.char_counts > 0) & ~self.untrained()
        neighbours = nearest_neighbours(embedding, char_id, candidates)
        if not len(neighbours):
            return ""
        itos = self.corpus.vocab.itos
        listed = ", ".join(
            f"{display_char(itos[i])} ({np.linalg.norm(embedding[i] - embedding[char_id]):.2f})"
            for i in neighbours
        )
        return f"Nearest in embedding space (distance): {listed}."

    def sample(self, start: str, length: int, temperature: float, seed: int) -> str:
        """Return text generated by the trained model from `start`. Raise TextError or ValueError
        for a bad start character or setting."""
        return sample(self.trainer.model, self.corpus, start, length, temperature, seed)

    @staticmethod
    def _curve(trainer: Trainer, label: str, heldout: bool = False) -> figures.Curve:
        epochs, losses = trainer.loss_history(heldout=heldout)
        epochs, losses = figures.downsample(epochs, losses, MAX_CURVE_POINTS)
        return figures.Curve(epochs, losses, label)

"""The Gradio Blocks: layout first, event wiring after. No training mathematics here.

Each browser session owns one `Session` in Gradio session state; handlers are functions of their
inputs and that session, and nothing at module level is ever mutated.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import torch

from charembed import training
from charembed.examples import JSON_EXAMPLE, example_names, load_example
from charembed.inference import MAX_SAMPLE_LENGTH
from charembed.links import build_query, parse_query
from charembed.session import Session
from charembed.settings import LIMITS, OPTIMIZERS, VOCAB_MODES, TrainingSettings
from charembed.text import TextError, describe_char, display_char, read_text

log = logging.getLogger(__name__)

DEFAULTS = TrainingSettings()
TRAIN_CONCURRENCY = 8  # runs training at once; more would only slice 2 CPUs thinner
QUEUE_MAX_SIZE = 256  # waiting events before new ones are rejected (a ZeroGPU Space would default to 1)
CHART_FRAME_SECONDS = 0.4  # live redraws of both charts
CHART_BUILD_FACTOR = 10  # ...and at most 1/10 of the time goes into building them
TORCH_THREADS = 1  # per process: concurrent sessions share the CPUs instead of oversubscribing them

OPTIMIZER_CHOICES = [
    ("SGD (the notebook's)", "sgd"),
    ("SGD with momentum 0.9", "momentum"),
    ("Adam", "adam"),
]
VOCAB_MODE_CHOICES = [
    ("Characters of the text", "text"),
    ("Fixed code points 0–125 (the notebook's)", "ascii126"),
]
assert [value for _, value in OPTIMIZER_CHOICES] == list(OPTIMIZERS)
assert [value for _, value in VOCAB_MODE_CHOICES] == list(VOCAB_MODES)

MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$&")

INTRO = """# Character Embeddings
A tiny neural network learns one number (or a 2-D or 3-D vector) per character so that it can
predict the next character of a text. Train it on any text, watch plain gradient descent fit it
live, then ask it what comes after a character and see where that character sits in embedding space.
"""

NOTEBOOK_PACE_SECONDS = 4.0  # the notebook's 31 epochs, slowed so the sudden drop can be watched
NOTEBOOK_LESSON = """**The original notebook, rerun.** Blue is the notebook's own run: it never calls
`zero_grad()`, so every step adds the new gradient to the sum of all earlier ones, and after k steps
the weights move by about k times the current gradient. The step keeps growing until, near epoch 20,
it is large enough for the loss to plunge. Grey is the same run with the gradients zeroed before
each step: at learning rate 0.1 it barely moves in 31 steps. The sudden drop comes from the
accumulated gradient, not from the learning rate. (The notebook trains on the 5 pairs of its first
6 characters only, with the 126 classes of code points 0–125.)"""

HOW_IT_WORKS = """**Model.** Every character *a* has an embedding **e[a]** (d numbers) and every possible next
character *b* an output vector **w[b]**. The model sees only the current character:

    logit(b | a) = e[a] · w[b]
    p(b | a)     = exp(logit(b | a)) / Σ_c exp(logit(c | a))        (softmax)

**Loss** (the blue curve): the cross-entropy of the real next character, averaged over the N pairs
(current, next) of the text. With C[a, b] the number of times b follows a,

    loss = −(1/N) · Σ_a Σ_b C[a, b] · log p(b | a)

so one epoch is exact full-batch gradient descent and costs V²·d operations however long the text is.

**Update.** Plain SGD moves each weight against its gradient, `θ ← θ − lr · ∂loss/∂θ`; momentum and
Adam rescale that step. The embedding plot shows **e** after each update. Flipping the sign of an
axis in both **e** and **w** gives the same model, so each axis is drawn with the text's most
frequent character on its positive side.

**Reference lines.** *Uniform guess* = ln V, a model that learned nothing. *Unigram* = the entropy of
the character frequencies, a model that ignores the current character. *Best bigram* =
H(next | current), the lowest loss any model that sees only the current character can reach.

**Why at most two predictions at d = 1.** With one number per character, logit(b | a) = e[a] × w[b].
If e[a] > 0 the character with the largest w wins; if e[a] < 0 the one with the smallest w wins.
Only the sign of e[a] matters for the ranking, so every character predicts one of just two
characters. The coloured band under the axis shows which one each position predicts. Raise the
embedding dimension to 2 or 3 to lift this limit."""

LIMITS_TEXT = (
    f"Limits: files up to {LIMITS.max_upload_bytes / 2**20:g} MB; the first "
    f"{LIMITS.max_text_chars:,} characters are used; vocabulary up to {LIMITS.max_vocab_size:,} "
    f"characters (rarer ones merge into one “other” entry); up to {LIMITS.max_epochs:,} epochs and "
    f"{LIMITS.max_run_seconds / 60:g} minutes per run."
)

# gr.Plot (gradio 6.31) mounts a new Plotly chart for every new figure and never purges the old one,
# whose listeners keep it alive: about 2,000 DOM nodes stay behind per run. Purging each chart as it
# leaves the page keeps a long session's memory flat. Gradio's Plotly bundle sets window.Plotly.
PURGE_REMOVED_CHARTS_JS = """() => {
    new MutationObserver((mutations) => {
        for (const mutation of mutations) {
            for (const node of mutation.removedNodes) {
                if (node.nodeType !== 1 || !window.Plotly) continue;
                const charts = node.matches(".js-plotly-plot")
                    ? [node] : node.querySelectorAll(".js-plotly-plot");
                for (const chart of charts) window.Plotly.purge(chart);
            }
        }
    }).observe(document.body, {childList: true, subtree: true});
}"""

CSS = """
#predicted textarea { font-size: 4rem !important; line-height: 1.2; text-align: center; }
#progress progress { width: 100%; height: 0.9rem; accent-color: var(--color-accent); }

/* gr.Plot remounts its chart on every update: fixed sizes keep the page from jumping meanwhile */
.live-charts > * { flex: 1 1 0 !important; min-width: 0 !important; }
#loss-plot, #embedding-plot { height: 470px; overflow: hidden; }
"""


# ---- handlers: text


def markdown_literal(text: str) -> str:
    """Escape `text` so Markdown shows every character as typed (backslashes, *, _, <, ...)."""
    return "".join(f"\\{char}" if char in MARKDOWN_SPECIAL else char for char in text)


def summarize(text: str, vocab_mode: str, train_chars: int, session: Session):
    """Return the text summary and the vocabulary list for the text as it is now."""
    settings = TrainingSettings(vocab_mode=vocab_mode, train_chars=int(train_chars or 0))
    try:
        corpus = session.build_corpus(read_text(text).text, settings)
    except (TextError, ValueError) as error:
        return f"⚠️ {markdown_literal(str(error))}", gr.update(choices=[], value=None)

    refs = corpus.references
    distinct = int((corpus.char_counts > 0).sum())
    size = (
        f"**{distinct:,}** distinct (vocabulary size V = {corpus.vocab.vocab_size:,})"
        if distinct == corpus.vocab.vocab_size
        else f"**{distinct:,}** distinct, vocabulary size V = **{corpus.vocab.vocab_size:,}**"
    )
    lines = [
        f"**{len(corpus.text):,}** characters · {size} · encoding **{corpus.encoding}**",
        f"Reference losses: uniform guess ln V = **{refs.uniform:.3f}** · unigram "
        f"**{refs.unigram:.3f}** · best bigram model **{refs.bigram:.3f}** nats",
    ]
    if settings.train_chars:
        lines.append(f"Training on the first {corpus.train_pairs:,} characters, each paired with the next.")
    if corpus.vocab.merged_chars:
        lines.append(
            f"{corpus.vocab.merged_chars:,} rare characters were merged into one “other” entry "
            f"(vocabulary limit {LIMITS.max_vocab_size:,})."
        )
    return "\n\n".join(lines), gr.update(choices=vocab_choices(session, corpus), value=None)


def vocab_choices(session: Session, corpus) -> list[tuple[str, str]]:
    """Dropdown entries for the characters that occur in the text, with visible names."""
    choices = []
    for char_id, char in enumerate(corpus.vocab.itos):
        if corpus.char_counts[char_id] > 0 and len(char) == 1:
            shown = display_char(char)
            name = describe_char(char).lower()
            label = shown if shown == char and char.isalnum() else f"{shown}  ({name})"
            choices.append((f"{label}  ×{int(corpus.char_counts[char_id]):,}", char))
    return choices


def load_file(path: str | None, session: Session):
    """Read an uploaded file into the text box, remembering its encoding."""
    if not path:
        return gr.skip()
    try:
        size = os.path.getsize(path)
        if size > LIMITS.max_upload_bytes:
            raise TextError(
                f"The file is {size / 2**20:.1f} MB, over the limit of "
                f"{LIMITS.max_upload_bytes / 2**20:g} MB. Upload a smaller file or paste part of it."
            )
        with open(path, "rb") as file:
            decoded = read_text(file.read())
    except TextError as error:
        gr.Warning(str(error))
        return gr.skip()
    session.set_upload(decoded.text, decoded.encoding)
    if decoded.truncated_chars:
        gr.Info(f"Only the first {LIMITS.max_text_chars:,} characters were kept.")
    return decoded.text


def pick_example(name: str | None, session: Session):
    if not name:
        return gr.skip()
    decoded = load_example(name)
    session.set_upload(decoded.text, decoded.encoding)
    return decoded.text


# ---- handlers: training


def train(
    text: str,
    embedding_dim: int,
    learning_rate: float,
    epochs: int,
    optimizer: str,
    seed: int,
    train_chars: int,
    vocab_mode: str,
    accumulate_grad: bool,
    pace_seconds: float,
    holdout_fraction: float,
    session: Session,
) -> Iterator[tuple]:
    """Start a fresh run and stream (loss chart, embedding plot, status, progress) while it trains."""
    try:
        settings = settings_from_inputs(
            embedding_dim,
            learning_rate,
            epochs,
            optimizer,
            seed,
            train_chars,
            vocab_mode,
            accumulate_grad,
            holdout_fraction,
        )
        pace_seconds = checked_pace(pace_seconds)
        ticket = session.take_ticket()
        corpus = session.build_corpus(read_text(text).text, settings)
    except (TextError, ValueError, TypeError) as error:
        yield warn(error)
        return

    run_id = session.start_run(corpus, settings, ticket)
    if run_id is None:
        return  # a later Train request replaced this one while its text was being prepared
    log.info("run %d started: V=%d, %s", run_id, corpus.vocab.vocab_size, settings)
    yield from stream_run(session, run_id, pace_seconds)


def resume(learning_rate: float, pace_seconds: float, session: Session) -> Iterator[tuple]:
    """Continue the stopped run, with the learning rate now in the settings."""
    try:
        run_id = session.resume_run(checked_learning_rate(learning_rate))
        pace_seconds = checked_pace(pace_seconds)
    except (ValueError, TypeError) as error:
        yield warn(error)
        return
    yield from stream_run(session, run_id, pace_seconds)


def step(learning_rate: float, session: Session) -> tuple:
    """Take a single epoch of the stopped run and draw it."""
    try:
        snapshot = session.step_run(checked_learning_rate(learning_rate))
    except (ValueError, TypeError) as error:
        return warn(error)
    return draw_run(session, snapshot)


def stream_run(session: Session, run_id: int, pace_seconds: float) -> Iterator[tuple]:
    yield from live_frames(session, run_id, pace_seconds)
    log.info("run %d left at epoch %d: %s", run_id, session.trainer.epoch, session.trainer.status)


def live_frames(session: Session, run_id: int, pace_seconds: float) -> Iterator[tuple]:
    """Yield (loss chart, embedding plot, status, progress) for each frame of a live run.

    The status line and progress bar change on every frame. A gr.Plot remounts its whole Plotly
    chart on each new figure, which costs the browser tens of milliseconds without a GPU. So both
    charts are sent together and less often: every CHART_FRAME_SECONDS, or less often when they
    are slow to build (a large vocabulary). Drawing then never crowds out training or Stop.
    """
    next_chart = 0.0
    for snapshot in session.live(run_id, pace_seconds):
        now = time.monotonic()
        loss_chart = embedding = gr.skip()
        if snapshot.done or now >= next_chart:
            loss_chart, embedding = session.loss_figure(), session.embedding_figure()
            build_seconds = time.monotonic() - now
            next_chart = now + max(CHART_FRAME_SECONDS, CHART_BUILD_FACTOR * build_seconds)
        yield loss_chart, embedding, session.status(snapshot), progress_html(session.progress())


def settings_from_inputs(
    embedding_dim,
    learning_rate,
    epochs,
    optimizer,
    seed,
    train_chars,
    vocab_mode,
    accumulate_grad,
    holdout_fraction,
) -> TrainingSettings:
    """Turn the settings components' values into validated TrainingSettings. Raise ValueError
    naming the first setting that is missing or out of range."""
    settings = TrainingSettings(
        embedding_dim=whole_number(embedding_dim, "Embedding dimension"),
        learning_rate=number(learning_rate, "Learning rate"),
        epochs=whole_number(epochs, "Epochs"),
        optimizer=optimizer,
        seed=whole_number(seed, "Random seed"),
        train_chars=whole_number(train_chars or 0, "Training span"),
        vocab_mode=vocab_mode,
        accumulate_grad=bool(accumulate_grad),
        holdout_fraction=number(holdout_fraction or 0, "Held-out fraction"),
    )
    settings.validate(LIMITS)
    return settings


def number(value, name: str) -> float:
    """Return `value` as a float, or raise ValueError naming the empty or invalid setting."""
    if value is None or value == "":
        raise ValueError(f"{name} is empty: enter a number.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {str(value)[:20]!r}.") from None


def whole_number(value, name: str) -> int:
    result = number(value, name)
    if not math.isfinite(result) or result != int(result):
        raise ValueError(f"{name} must be a whole number, not {result:g}.")
    return int(result)


def checked_learning_rate(learning_rate) -> float:
    learning_rate = number(learning_rate, "Learning rate")
    TrainingSettings(learning_rate=learning_rate).validate(LIMITS)
    return learning_rate


def checked_pace(pace_seconds) -> float:
    pace_seconds = number(pace_seconds or 0, "Presentation pace")
    if not 0 <= pace_seconds <= LIMITS.max_pace_seconds:
        raise ValueError(
            f"Pace {pace_seconds:g} s is out of range: choose 0 to {LIMITS.max_pace_seconds:g} s."
        )
    return pace_seconds


def warn(error: Exception) -> tuple:
    """Show a rejected request's message as a toast and in the status line; leave the charts."""
    log.info("request rejected: %s", error)
    gr.Warning(str(error))
    return gr.skip(), gr.skip(), f"⚠️ {error}", gr.skip()


def draw_run(session: Session, snapshot=None) -> tuple:
    return (
        session.loss_figure(),
        session.embedding_figure(),
        session.status(snapshot),
        progress_html(session.progress()),
    )


def stop(session: Session) -> tuple:
    """End the live run, keep its weights, and draw where it stopped."""
    if not session.stop_run():
        # keep what the last run reported, so Stop after a finished run loses nothing
        status = f"{session.status()}\n" if session.trainer is not None else ""
        return gr.skip(), gr.skip(), f"{status}No run is going. Press Train to start one.", gr.skip()
    loss_plot, embedding_plot, status, progress = draw_run(session)
    status += (
        f"\nStopped at epoch {session.trainer.epoch:,}; the weights are kept. Resume continues the run "
        "(with the learning rate now in the settings), Step takes one epoch, Train starts afresh."
    )
    return loss_plot, embedding_plot, status, progress


def run_notebook(session: Session) -> Iterator[tuple]:
    """Load the json example, set the notebook's settings, and stream its run beside the same run
    with zeroed gradients."""
    session.stop_run()
    decoded = load_example(JSON_EXAMPLE)
    session.set_upload(decoded.text, decoded.encoding)
    notebook = TrainingSettings.notebook()
    run_id = session.start_notebook_run(decoded.text)
    settings_values = (decoded.text, *dataclasses.astuple(notebook))
    for frame in live_frames(session, run_id, NOTEBOOK_PACE_SECONDS):
        yield (*settings_values, *frame, NOTEBOOK_LESSON)


def open_link(session: Session, request: gr.Request) -> tuple:
    """Apply the page URL's query parameters (example and settings) when the page opens."""
    session.page_url = page_url(request)
    link = parse_query(dict(request.query_params) if request else {})
    for problem in link.problems:
        gr.Warning(problem)
    if link.example is not None:
        decoded = load_example(link.example)
        session.set_upload(decoded.text, decoded.encoding)
        text, example_name = decoded.text, link.example
    else:
        text, example_name = gr.skip(), gr.skip()
    return (text, example_name, *dataclasses.astuple(link.settings), link.pace_seconds)


def share_link(example_name: str | None, *values) -> str:
    """Return the link that opens the page with the current example and settings. `values` are
    the settings components' values in TrainingSettings field order, then the pace and the session."""
    *setting_values, pace_seconds, session = values
    try:
        settings = settings_from_inputs(*setting_values)
    except ValueError as error:
        return f"Fix the settings above to get a link: {error}"
    query = build_query(settings, example_name, float(pace_seconds or 0))
    return f"{session.page_url}?{query}" if query else session.page_url


def page_url(request: gr.Request | None) -> str:
    """Return the page's own address without its query, taken from the Referer of its requests."""
    referer = request.headers.get("referer", "") if request else ""
    return referer.split("?")[0] or "/"


def refresh_replay(session: Session) -> tuple:
    """After a run ends or stops: let the replay slider span its epochs and draw every path."""
    if session.trainer is None or not session.trainer.trajectory:
        return gr.skip(), gr.skip(), gr.skip()
    last = session.trainer.epoch
    slider = gr.update(maximum=max(last, 1), value=last, interactive=True)
    return slider, session.embedding_figure(frame=session.replay_frame(last)), session.trajectory_figure()


def replay(epoch: float, session: Session):
    """Draw the embeddings as they were at `epoch` of the run (the nearest recorded frame before it)."""
    if session.trainer is None or not session.trainer.trajectory:
        return gr.skip()
    return session.embedding_figure(frame=session.replay_frame(int(epoch)))


def export_model(session: Session) -> list[str] | None:
    """Write the session's model files into a fresh temporary folder and offer them for download."""
    try:
        paths = session.export_files(Path(tempfile.mkdtemp(prefix="charembed-")))
    except ValueError as error:
        gr.Warning(str(error))
        return None
    return [str(path) for path in paths]


def import_model(path: str | None, session: Session) -> tuple:
    """Load an exported bundle into the session and draw it."""
    if not path:
        return (gr.skip(),) * 4
    try:
        if os.path.getsize(path) > LIMITS.max_upload_bytes:
            raise TextError(f"The file is over the upload limit of {LIMITS.max_upload_bytes / 2**20:g} MB.")
        with open(path, "rb") as file:
            session.import_model(file.read())
    except TextError as error:
        return warn(error)
    loss_plot, embedding_plot, status, progress = draw_run(session)
    return loss_plot, embedding_plot, f"Imported a model for exploring.\n{status}", progress


def progress_html(fraction: float) -> str:
    # numbers only: no user text ever reaches this HTML
    return f'<progress value="{fraction:.4f}" max="1"></progress> {fraction:.0%}'


# ---- handlers: explore


def predict(char: str, session: Session) -> tuple:
    """Return (predicted character, explanation, prediction chart, embedding plot) for one character."""
    if session.trainer is None:
        return "", "Train a model first, then ask it what follows a character.", gr.skip(), gr.skip()
    try:
        prediction = session.predict(char or "")
    except TextError as error:
        return "", str(error), None, session.embedding_figure()
    predicted = session.corpus.vocab.itos[prediction.predicted_id]
    return (
        display_char(predicted),
        session.explain(prediction),
        session.prediction_figure(prediction),
        session.embedding_figure(highlight=prediction.char_id),
    )


def generate(start: str, temperature: float, length: int, seed: int, session: Session) -> str:
    """Return text sampled from the trained model, or a message saying why there is none."""
    if session.trainer is None:
        return "Train a model first, then generate text from it."
    try:
        return session.sample(start or "", int(length), float(temperature), int(seed or 0))
    except (TextError, ValueError, TypeError) as error:
        return str(error).replace(
            "Type one character to see what the model predicts after it.",
            "Type a start character in the box above.",
        )


def choose_from_list(char: str | None):
    """Put the character picked from the vocabulary list into the query box, which predicts. An
    invisible character goes in as its stand-in (⏎, ␣, ⇥, U+XXXX), which the prediction reads back,
    because a one-line box would drop a newline and show nothing for a space."""
    return gr.skip() if char is None else display_char(char)


def release_on_close(demo: gr.Blocks):
    """Return an unload handler that frees a closed tab's session: its live run stops and its
    text and model are dropped. Gradio would otherwise keep them for an hour."""

    def release(request: gr.Request) -> None:
        if request is not None and request.session_hash:
            demo.state_holder.delete_state(request.session_hash)
            log.info("session %s closed and released", request.session_hash)

    return release


# ---- the page


def build_demo() -> gr.Blocks:
    """Build the Blocks (layout, then events). Call `.launch(**launch_options())` to serve it."""
    torch.set_num_threads(TORCH_THREADS)
    # the first fused optimizer of a process imports torch._dynamo (about a second): pay it at
    # start-up, not in the first visitor's run
    training.train(torch.ones(2, 2), TrainingSettings(epochs=1))
    default_text = load_example(JSON_EXAMPLE)

    with gr.Blocks(title="Character Embeddings", analytics_enabled=False) as demo:
        initial_session = Session(upload_text=default_text.text, upload_encoding=default_text.encoding)
        session = gr.State(initial_session, delete_callback=lambda value: value.release())
        initial_summary, initial_vocab = summarize(
            default_text.text, DEFAULTS.vocab_mode, DEFAULTS.train_chars, initial_session
        )
        gr.Markdown(INTRO)

        with gr.Row():
            with gr.Column(scale=3):
                text_box = gr.Textbox(
                    value=default_text.text, label="Text", lines=8, max_lines=12, elem_id="text-box"
                )
                with gr.Row():
                    example = gr.Dropdown(
                        choices=example_names(),
                        value=JSON_EXAMPLE,
                        label="Example text",
                        elem_id="example",
                        info="A built-in text; picking one replaces the text box.",
                    )
                    upload = gr.UploadButton(
                        "Upload a text file", type="filepath", elem_id="upload", size="lg"
                    )
            with gr.Column(scale=2):
                summary = gr.Markdown(initial_summary, elem_id="summary")

        # Number boxes carry no minimum/maximum: Gradio's own bound check would reject a value
        # before the handler with a message that does not name the setting, so
        # TrainingSettings.validate checks them and names the setting and its range.
        with gr.Accordion("Training settings", open=False, elem_id="settings"):
            with gr.Row():
                embedding_dim = gr.Slider(
                    LIMITS.min_embedding_dim,
                    LIMITS.max_embedding_dim,
                    value=DEFAULTS.embedding_dim,
                    step=1,
                    label="Embedding dimension d",
                    elem_id="embedding-dim",
                )
                learning_rate = gr.Number(
                    DEFAULTS.learning_rate,
                    label=f"Learning rate ({LIMITS.min_learning_rate:g} to {LIMITS.max_learning_rate:g})",
                    elem_id="learning-rate",
                )
                epochs = gr.Number(
                    DEFAULTS.epochs,
                    precision=0,
                    label=f"Epochs (1 to {LIMITS.max_epochs:,})",
                    elem_id="epochs",
                )
                optimizer = gr.Radio(
                    OPTIMIZER_CHOICES, value=DEFAULTS.optimizer, label="Optimizer", elem_id="optimizer"
                )
            with gr.Row():
                seed = gr.Number(DEFAULTS.seed, precision=0, label="Random seed", elem_id="seed")
                train_chars = gr.Number(
                    DEFAULTS.train_chars,
                    precision=0,
                    label="Train on the first N characters (0 = whole text)",
                    elem_id="train-chars",
                )
                vocab_mode = gr.Radio(
                    VOCAB_MODE_CHOICES, value=DEFAULTS.vocab_mode, label="Vocabulary", elem_id="vocab-mode"
                )
                with gr.Column():
                    accumulate_grad = gr.Checkbox(
                        DEFAULTS.accumulate_grad,
                        label="Accumulate gradients like the original notebook",
                        info="The notebook never calls zero_grad(): each step adds up all earlier gradients.",
                        elem_id="accumulate-grad",
                    )
                    holdout = gr.Slider(
                        0,
                        LIMITS.max_holdout_fraction,
                        value=DEFAULTS.holdout_fraction,
                        step=0.05,
                        label="Hold out the end of the text (fraction) and plot its loss too",
                        elem_id="holdout",
                    )
                    pace = gr.Slider(
                        0,
                        LIMITS.max_pace_seconds,
                        value=0,
                        step=1,
                        elem_id="pace",
                        label="Presentation pace: spread the run over this many seconds (0 = full speed)",
                    )
            gr.Markdown(LIMITS_TEXT, elem_id="limits")
            link_box = gr.Textbox(
                label="Link that opens this page with this example and these settings (the text itself is "
                "not in the link)",
                interactive=False,
                buttons=["copy"],
                elem_id="share-link",
            )

        with gr.Row():
            train_button = gr.Button("Train", variant="primary", elem_id="train")
            stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
            resume_button = gr.Button("Resume", elem_id="resume")
            step_button = gr.Button("Step", elem_id="step")
            notebook_button = gr.Button("Rerun the original notebook", elem_id="notebook")
        progress = gr.HTML(progress_html(0.0), elem_id="progress")
        status = gr.Textbox(
            "Not trained yet. Choose a text and press Train.",
            label="Status",
            interactive=False,
            lines=2,
            max_lines=4,
            elem_id="status",
        )
        with gr.Row(elem_classes="live-charts"):
            loss_plot = gr.Plot(label="Loss", elem_id="loss-plot")
            embedding_plot = gr.Plot(label="Embeddings", elem_id="embedding-plot")
        lesson = gr.Markdown(elem_id="lesson")
        with gr.Accordion(
            "Replay the run: embeddings at any epoch, and every character's path",
            open=False,
            elem_id="replay",
        ):
            replay_epoch = gr.Slider(
                0,
                1,
                value=0,
                step=1,
                interactive=False,
                elem_id="replay-epoch",
                label="Epoch to show (after a run ends or is stopped)",
            )
            with gr.Row():
                replay_plot = gr.Plot(label="Embeddings at that epoch", elem_id="replay-plot")
                trajectory_plot = gr.Plot(label="Embedding paths over the run", elem_id="trajectory-plot")
        with gr.Accordion("How it works", open=False, elem_id="how-it-works"):
            gr.Markdown(HOW_IT_WORKS)

        gr.Markdown("## Explore the trained model")
        with gr.Row():
            with gr.Column(scale=1):
                query = gr.Textbox(label="Type one character", elem_id="query", max_lines=1)
                vocab_list = gr.Dropdown(
                    initial_vocab["choices"],
                    value=None,
                    label="…or pick one from the text",
                    elem_id="vocab-list",
                )
                predicted = gr.Textbox(
                    label="Predicted next character", interactive=False, elem_id="predicted"
                )
            with gr.Column(scale=2):
                prediction_plot = gr.Plot(
                    label="Next-character probabilities", show_label=False, elem_id="prediction-plot"
                )
        explanation = gr.Textbox(label="Why", interactive=False, lines=3, elem_id="explanation")
        with gr.Accordion("Export and import", open=False, elem_id="export-import"):
            gr.Markdown(
                "**Export** saves the model bundle (weights as safetensors, vocabulary and settings as "
                "JSON, in one .zip), `vectors.tsv` and `metadata.tsv` for the TensorFlow Embedding "
                "Projector (projector.tensorflow.org: Load, then pick both files), and the loss "
                "history as CSV. **Import** a bundle saved here to explore it again."
            )
            with gr.Row():
                export_button = gr.Button("Export the trained model", elem_id="export")
                import_button = gr.UploadButton(
                    "Import a model bundle (.zip)", type="filepath", file_types=[".zip"], elem_id="import"
                )
            export_files = gr.File(
                label="Exported files", file_count="multiple", interactive=False, elem_id="export-files"
            )
        with gr.Accordion("Generate text from the model", open=False, elem_id="generate"):
            with gr.Row():
                temperature = gr.Slider(
                    0.1,
                    3.0,
                    value=1.0,
                    step=0.1,
                    elem_id="temperature",
                    label="Temperature (below 1: safer choices; above 1: more surprising ones)",
                )
                sample_length = gr.Slider(
                    1, MAX_SAMPLE_LENGTH, value=200, step=1, label="Characters", elem_id="sample-length"
                )
                sample_seed = gr.Number(0, precision=0, label="Seed", elem_id="sample-seed")
            generate_button = gr.Button("Generate from the character above", elem_id="generate-button")
            sample_box = gr.Textbox(label="Generated text", interactive=False, lines=4, elem_id="sample")

        # ---- events
        summary_inputs = [text_box, vocab_mode, train_chars, session]
        for trigger in (text_box.change, vocab_mode.change, train_chars.change):
            trigger(
                summarize,
                summary_inputs,
                [summary, vocab_list],
                trigger_mode="always_last",
                show_progress="hidden",
                api_visibility="private",
                queue=False,
            )
        # in TrainingSettings field order, as dataclasses.astuple and settings_from_inputs use it
        settings_components = [
            embedding_dim,
            learning_rate,
            epochs,
            optimizer,
            seed,
            train_chars,
            vocab_mode,
            accumulate_grad,
            holdout,
        ]
        link_inputs = [example, *settings_components, pace]
        demo.load(open_link, [session], [text_box, *link_inputs], api_visibility="private", queue=False).then(
            share_link, [*link_inputs, session], link_box, api_visibility="private", queue=False
        )
        for component in link_inputs:
            component.change(
                share_link,
                [*link_inputs, session],
                link_box,
                api_visibility="private",
                queue=False,
                show_progress="hidden",
                trigger_mode="always_last",
            )
        upload.upload(load_file, [upload, session], [text_box], api_visibility="private")
        example.input(pick_example, [example, session], [text_box], api_visibility="private")

        run_outputs = [loss_plot, embedding_plot, status, progress]
        train_event = train_button.click(
            train,
            [
                text_box,
                embedding_dim,
                learning_rate,
                epochs,
                optimizer,
                seed,
                train_chars,
                vocab_mode,
                accumulate_grad,
                pace,
                holdout,
                session,
            ],
            run_outputs,
            api_name="train",
            concurrency_limit=TRAIN_CONCURRENCY,
            concurrency_id="train",
            show_progress="hidden",
        )
        notebook_event = notebook_button.click(
            run_notebook,
            [session],
            [text_box, *settings_components, *run_outputs, lesson],
            api_name="notebook",
            concurrency_limit=TRAIN_CONCURRENCY,
            concurrency_id="train",
            show_progress="hidden",
        )
        resume_event = resume_button.click(
            resume,
            [learning_rate, pace, session],
            run_outputs,
            api_name="resume",
            concurrency_limit=TRAIN_CONCURRENCY,
            concurrency_id="train",
            show_progress="hidden",
        )
        step_button.click(
            step,
            [learning_rate, session],
            run_outputs,
            api_name="step",
            concurrency_limit=None,
            show_progress="hidden",
        )
        train_button.click(lambda: "", None, lesson, queue=False, api_visibility="private")
        stop_event = stop_button.click(
            stop,
            [session],
            run_outputs,
            api_name="stop",
            cancels=[train_event, notebook_event, resume_event],
            concurrency_limit=None,
            queue=False,
        )
        replay_outputs = [replay_epoch, replay_plot, trajectory_plot]
        for event in (train_event, notebook_event, resume_event, stop_event):
            event.then(
                refresh_replay,
                [session],
                replay_outputs,
                api_visibility="private",
                concurrency_limit=None,
                show_progress="hidden",
            )
        replay_epoch.change(
            replay,
            [replay_epoch, session],
            replay_plot,
            api_visibility="private",
            concurrency_limit=None,
            show_progress="hidden",
            trigger_mode="always_last",
        )

        predict_outputs = [predicted, explanation, prediction_plot, embedding_plot]
        # change, not input: input fires only on key presses, and a character may also be pasted,
        # composed with an input method, or set by the vocabulary list
        query.change(
            predict,
            [query, session],
            predict_outputs,
            api_name="predict",
            concurrency_limit=None,
            show_progress="hidden",
            trigger_mode="always_last",
        )
        vocab_list.input(choose_from_list, [vocab_list], [query], api_visibility="private", queue=False)

        export_button.click(export_model, [session], export_files, api_name="export", concurrency_limit=None)
        import_button.upload(
            import_model, [import_button, session], run_outputs, api_name="import", concurrency_limit=None
        ).then(refresh_replay, [session], replay_outputs, api_visibility="private", show_progress="hidden")
        generate_button.click(
            generate,
            [query, temperature, sample_length, sample_seed, session],
            sample_box,
            api_name="sample",
            concurrency_limit=None,
        )

        demo.unload(release_on_close(demo))

    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=TRAIN_CONCURRENCY)
    return demo


def launch_options() -> dict:
    """Keyword arguments for `demo.launch()` shared by app.py and the tests."""
    return {
        "css": CSS,
        "js": PURGE_REMOVED_CHARTS_JS,
        "ssr_mode": False,  # Spaces default to SSR; the tests run without it, so production does too
        "max_file_size": LIMITS.max_upload_bytes,
        "theme": gr.themes.Default(),
    }

"""Bad input, many users, and Stop: every case where a person can give the app something it cannot use.

Each case is tested where it can happen: the library (decoding and counting files), the API through
gradio_client (what Train, Stop and predict return), and the page in headless Chromium (uploads,
toasts, rendering, closing a tab). Every test checks the message a person sees and then that the same
session still trains and predicts.
"""

from __future__ import annotations

import base64
import json
import math
import pickle
import random
import re
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMIUM_ARGS, decode_array

from charembed.corpus import OTHER, load_corpus
from charembed.inference import predict_next
from charembed.session import Session
from charembed.settings import LIMITS, Limits, TrainingSettings
from charembed.text import display_char
from charembed.training import train

CHROMIUM = "/usr/bin/chromium"

# Train settings of a quick run; each test overrides what it is about. Passed by name, so a new
# optional input of /train keeps its default.
QUICK = {
    "embedding_dim": 2,
    "learning_rate": 0.05,
    "epochs": 300,
    "optimizer": "adam",
    "seed": 0,
    "train_chars": 0,
    "vocab_mode": "text",
    "accumulate_grad": False,
    "pace_seconds": 0,
    "holdout_fraction": 0,
}
LONG_RUN = {"embedding_dim": 1, "learning_rate": 0.01, "epochs": LIMITS.max_epochs, "optimizer": "sgd"}

MARKUP_TEXT = (
    '<img src=x onerror=alert(1)> <b>bold</b> **md** $x$ <a href="javascript:alert(2)">link</a> '
    "&amp; %{x} <script>alert(3)</script> [link](javascript:alert(4))\n"
) * 3


def large_text(chars: int = 1_000_000) -> str:
    """Return a seeded random text over 40 characters, long enough that a run on it lasts a while."""
    rng = random.Random(0)
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789 .,\n", k=chars))


# ---------------------------------------------------------------------------------------------
# helpers: the API


def submit_train(client, text: str, **settings):
    return client.submit(text=text, **{**QUICK, **settings}, api_name="/train")


def shown_markdown(markdown: str) -> str:
    """Drop Markdown's backslash escapes, which the page does not show: "\\(a\\)" -> "(a)"."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def train_outcome(client, text: str, **settings) -> tuple[list, str]:
    """Run Train to its end. Return the streamed updates and the message a person reads: the last
    status line as the page shows it, or the error raised before the handler ran (Gradio checks
    component bounds first)."""
    job = submit_train(client, text, **settings)
    try:
        job.result(timeout=60)
    except Exception as error:  # gradio_client raises AppError, or the server's error as it came
        return [], str(error)
    updates = job.outputs()
    return updates, shown_markdown(updates[-1][2])


def predicted(client, char: str) -> tuple[str, str]:
    """Return (predicted character as shown, explanation) for one query."""
    shown, explanation, _, _ = client.predict(char, api_name="/predict")
    return shown, explanation


def assert_session_works(client) -> None:
    """Assert that a valid Train and predict succeed in this session."""
    _, status = train_outcome(client, "abcabc")
    assert "Finished 300 epochs" in status
    assert predicted(client, "a")[0] == "b"


def wait_done(job, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    return job.done()


def figure_of(plot_output) -> dict:
    figure = plot_output["plot"] if isinstance(plot_output, dict) else plot_output
    return json.loads(figure) if isinstance(figure, str) else figure


def figure_numbers(plot_output) -> list[float]:
    """Return every number in a Plotly figure as gradio_client delivers it, base64 arrays decoded."""
    numbers = []

    def walk(node) -> None:
        if isinstance(node, dict) and "bdata" in node:
            raw = base64.b64decode(node["bdata"])
            numbers.extend(np.frombuffer(raw, dtype=node["dtype"]).astype(np.float64).tolist())
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            numbers.append(float(node))

    walk(figure_of(plot_output))
    return numbers


def figure_strings(plot_output) -> list[str]:
    """Return every string in a Plotly figure: labels, hover text, titles."""
    strings = []

    def walk(node) -> None:
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(figure_of(plot_output))
    return strings


# ---------------------------------------------------------------------------------------------
# library: files as the upload handler reads them


def quick_settings(**overrides) -> TrainingSettings:
    return TrainingSettings(**{**{k: v for k, v in QUICK.items() if k != "pace_seconds"}, **overrides})


def test_cp1252_file_read_and_named(tmp_path):
    path = tmp_path / "note.txt"
    path.write_bytes("it’s café\n".encode("cp1252"))

    corpus = load_corpus(path.read_bytes(), quick_settings())
    prediction = predict_next(train(corpus.counts, quick_settings()).model, corpus, "’")

    assert corpus.text == "it’s café\n"
    assert corpus.encoding == "Windows-1252 (detected)"
    assert corpus.vocab.itos[int(prediction.actual.argmax())] == "s"


def test_utf16_file_read_and_named(tmp_path):
    path = tmp_path / "note.txt"
    path.write_bytes("héllo wörld\n".encode("utf-16"))

    corpus = load_corpus(path.read_bytes(), quick_settings())

    assert corpus.text == "héllo wörld\n"
    assert corpus.encoding == "UTF-16 with byte-order mark"
    assert "\ufeff" not in corpus.vocab.itos


@pytest.mark.parametrize("line_end", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_line_end_file_predicts_newline(tmp_path, line_end):
    path = tmp_path / "lines.txt"
    path.write_bytes(f"ab{line_end}ab{line_end}ab{line_end}".encode())

    corpus = load_corpus(path.read_bytes(), quick_settings())
    model = train(corpus.counts, quick_settings()).model
    prediction = predict_next(model, corpus, "b")

    assert corpus.vocab.itos == ["\n", "a", "b"]
    assert display_char(corpus.vocab.itos[prediction.predicted_id]) == "⏎"


def test_vocab_limit_counts_merged_chars():
    limits = Limits(max_vocab_size=5)
    text = "aaaa bbbb cccc d e f g " * 2  # 8 distinct: space a b c kept, d e f g merged

    corpus = load_corpus(text, quick_settings(), limits)
    model = train(corpus.counts, quick_settings(), limits).model
    prediction = predict_next(model, corpus, "g")

    assert corpus.vocab.merged_chars == 4
    assert corpus.vocab.itos == [" ", "a", "b", "c", OTHER]
    assert prediction.char_id == corpus.vocab.stoi[OTHER]
    assert np.isfinite(prediction.probs).all()


# ---------------------------------------------------------------------------------------------
# API: text that cannot be trained on


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "The text is empty"),
        ("    ", "repeats a single character (␣)"),
        ("\n\n\n", "repeats a single character (⏎)"),
        ("a", "only one character (a)"),
        ("aaaa", "repeats a single character (a)"),
        ("👍", "only one character (👍)"),
    ],
    ids=["empty", "spaces", "newlines", "one-char", "one-distinct", "one-emoji"],
)
def test_train_rejects_untrainable_text(new_client, text, expected):
    client = new_client()
    updates, status = train_outcome(client, text)

    assert len(updates) == 1  # the message, and no run started
    assert status.startswith("⚠️")
    assert expected in status
    assert_session_works(client)


def test_whitespace_of_two_kinds_trains(new_client):
    client = new_client()
    _, status = train_outcome(client, " \n \n \n")

    assert "Finished" in status
    assert predicted(client, " ")[0] == "⏎"


# ---------------------------------------------------------------------------------------------
# API: queries


def test_predict_rejects_bad_query(new_client):
    client = new_client()
    train_outcome(client, "abcabc")
    bad_queries = {
        "z": "The character z does not occur in the text",
        " ": "The character ␣ does not occur in the text",
        "\n": "The character ⏎ does not occur in the text",
        "": "Type one character",
        "ab": "Type exactly one character, not 2",
    }

    for query, expected in bad_queries.items():
        predicted(client, "a")  # a valid prediction is on screen first, and the bad query must replace it
        shown, explanation = predicted(client, query)

        assert shown == "", repr(query)
        assert expected in explanation, repr(query)

    assert predicted(client, "a")[0] == "b"


def test_emoji_is_one_queryable_entry(new_client):
    client = new_client()
    updates, status = train_outcome(client, "hi👍hi👍")
    labels = figure_strings(updates[-1][1])

    assert "Finished" in status
    assert "👍" in labels
    assert not any("\ud83d" in label or "\udc4d" in label for label in labels)  # no surrogate halves
    assert predicted(client, "👍")[0] == "h"
    assert predicted(client, "i")[0] == "👍"


@pytest.mark.parametrize("line_end", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_pasted_line_ends_read_as_newline(new_client, line_end):
    client = new_client()
    _, status = train_outcome(client, f"ab{line_end}" * 3)

    assert "Finished" in status
    assert predicted(client, "b")[0] == "⏎"
    assert "does not occur" in predicted(client, "\r")[1]


def test_control_chars_train_and_show(new_client):
    client = new_client()
    text = "a\x00b\x07c\x1bd\x7fe\u200bf" * 3
    updates, status = train_outcome(client, text, epochs=600)
    labels = figure_strings(updates[-1][1])
    shown, explanation = predicted(client, "\x07")

    assert "Finished" in status
    assert {"U+0000", "U+0007", "U+001B", "U+007F", "U+200B"} <= set(labels)
    assert not any(char in label for label in labels for char in "\x00\x07\x1b\x7f\u200b")
    assert shown == "c"
    assert "After U+0007" in explanation


def test_vocab_over_limit_trains(new_client):
    client = new_client()
    distinct = LIMITS.max_vocab_size + 3
    text = "".join(chr(0x4E00 + i) for i in range(distinct)) + "ab" * 50
    updates, status = train_outcome(client, text, epochs=5)

    assert "Finished" in status
    assert "other" in figure_strings(updates[-1][1])
    assert predicted(client, "a")[0] != ""


# ---------------------------------------------------------------------------------------------
# API: settings

LEARNING_RATE_BOUNDS = (f"{LIMITS.min_learning_rate:g}", f"{LIMITS.max_learning_rate:g}")


@pytest.mark.parametrize(
    ("settings", "name", "bounds"),
    [
        ({"epochs": 0}, "epochs", ("1", f"{LIMITS.max_epochs:,}")),
        ({"learning_rate": -1}, "learning rate", LEARNING_RATE_BOUNDS),
        ({"learning_rate": 1000}, "learning rate", LEARNING_RATE_BOUNDS),
    ],
    ids=["epochs-0", "lr-negative", "lr-1000"],
)
def test_out_of_range_setting_named(new_client, settings, name, bounds):
    client = new_client()
    _, message = train_outcome(client, "abcabc", **settings)
    low, high = bounds

    assert name in message.lower(), message
    assert re.search(rf"\b{re.escape(low)} to {re.escape(high)}\b", message), message
    assert_session_works(client)


@pytest.mark.parametrize(
    ("settings", "bound"),
    [({"embedding_dim": 4}, "maximum value 3"), ({"pace_seconds": -5}, "minimum value 0")],
    ids=["dim-4", "pace-negative"],
)
def test_out_of_range_slider_rejected(new_client, settings, bound):
    # A slider on the page cannot leave its range; only an API call can, and Gradio's own check
    # rejects it with the bound before the handler runs.
    client = new_client()
    _, message = train_outcome(client, "abcabc", **settings)

    assert bound in message, message
    assert_session_works(client)


def test_divergence_stops_with_finite_output(new_client):
    client = new_client()
    updates, status = train_outcome(
        client, "hello world", embedding_dim=1, optimizer="sgd", learning_rate=100
    )
    _, explanation, bars, embedding = client.predict("h", api_name="/predict")

    assert "diverged" in status
    assert "Epoch 300 / 300" not in status
    for loss_plot, embedding_plot, _, _ in updates:
        assert all(math.isfinite(x) for x in figure_numbers(loss_plot))
        assert all(math.isfinite(x) for x in figure_numbers(embedding_plot))
    assert all(math.isfinite(x) for x in figure_numbers(bars))
    assert all(math.isfinite(x) for x in figure_numbers(embedding))
    assert not re.search(r"\b(nan|inf)\b", explanation, re.IGNORECASE)
    assert_session_works(client)


# ---------------------------------------------------------------------------------------------
# API: Stop and Train


def test_stop_midrun_then_train_cleanly(new_client):
    client = new_client()
    job = submit_train(client, large_text(), **LONG_RUN)
    for count, _ in enumerate(job):
        if count == 3:
            break

    stop_status = client.predict(api_name="/stop")[2]
    updates, status = train_outcome(client, "abcabc")
    first_curve = [t for t in figure_of(updates[0][0])["data"] if t.get("name") == "this run"]

    assert "Stopped at epoch" in stop_status
    assert wait_done(job, 2)
    assert job.exception() is None
    assert updates[0][2].startswith("Epoch 0 / 300")
    assert decode_array(first_curve[0]["x"]) == [0]
    assert "Finished 300 epochs" in status
    assert predicted(client, "a")[0] == "b"


def test_stop_without_run_and_twice(new_client):
    client = new_client()
    no_run = "No run is going"

    assert no_run in client.predict(api_name="/stop")[2]
    train_outcome(client, "abcabc")
    assert no_run in client.predict(api_name="/stop")[2]  # the run had finished

    job = submit_train(client, "abcabd" * 50, **LONG_RUN)
    next(iter(job))
    assert "Stopped at epoch" in client.predict(api_name="/stop")[2]
    assert no_run in client.predict(api_name="/stop")[2]
    assert wait_done(job, 2)
    assert job.exception() is None
    assert_session_works(client)


def test_train_twice_replaces_live_run(new_client):
    client = new_client()
    first = submit_train(client, "abcabd" * 50, **LONG_RUN)
    next(iter(first))

    _, status = train_outcome(client, "xyzxyz")

    assert "Finished 300 epochs" in status
    assert wait_done(first, 2)
    assert first.exception() is None
    assert predicted(client, "x")[0] == "y"
    assert "does not occur" in predicted(client, "a")[1]


def test_train_twice_later_request_wins(new_client, monkeypatch):
    """The first request is still building its corpus when the second one starts and finishes."""
    slow_text = "abcabd" * 50
    build_corpus = Session.build_corpus

    def build_slowly(session, text, settings):
        if text == slow_text:
            time.sleep(1.0)  # stands for the counting of a long text
        return build_corpus(session, text, settings)

    monkeypatch.setattr(Session, "build_corpus", build_slowly)
    client = new_client()
    first = submit_train(client, slow_text, **LONG_RUN)
    try:
        time.sleep(0.3)  # the first request is inside build_slowly now
        _, status = train_outcome(client, "xyzxyz")
        time.sleep(1.0)  # the first request's corpus is built by now

        assert "Finished 300 epochs" in status
        assert wait_done(first, 2), "the earlier Train still runs after the later one finished"
        assert predicted(client, "x")[0] == "y", "the session holds the earlier request's text"
    finally:
        first.cancel()
        client.predict(api_name="/stop")


def test_import_never_unpickles(new_client, tmp_path):
    from gradio_client import handle_file

    class CreatesFile:
        def __reduce__(self):
            return (open, (str(tmp_path / "unpickled"), "w"))

    client = new_client()
    train_outcome(client, "abcabc")
    fake = tmp_path / "model.zip"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("model.pkl", pickle.dumps(CreatesFile()))
        archive.writestr("weights.safetensors", pickle.dumps(CreatesFile()))

    status = client.predict(handle_file(str(fake)), api_name="/import")[2]

    assert "not a charembed model bundle" in status
    assert not (tmp_path / "unpickled").exists()
    assert predicted(client, "a")[0] == "b"  # the trained model is kept


# ---------------------------------------------------------------------------------------------
# browser


browser_only = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"Chromium not found at {CHROMIUM}")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# the text a person reads in an element: a text box's value, or the element's rendered text
SHOWN_TEXT_JS = """
    const e = document.querySelector(s);
    if (!e) return '';
    const field = e.querySelector('textarea, input');
    return field ? field.value : (e.innerText || e.textContent);
"""


class Tab:
    """One visitor's browser tab on the app, with the alert dialogs it raised.

    During a run the page redraws two plots about ten times a second. Playwright's locator actions
    wait for animation frames, which a busy headless Chromium may not paint for seconds, so reads
    and clicks that can happen during a run go through `evaluate`.
    """

    def __init__(self, browser, url: str):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dismiss)
        self.page.goto(url)
        self.page.locator("#summary").get_by_text("characters").wait_for()

    def _dismiss(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def text(self, selector: str) -> str:
        """The rendered text of an element (its text content if it is hidden), or the value of the
        text box inside it (the status line is a read-only text box)."""
        return self.page.evaluate(f"s => {{ {SHOWN_TEXT_JS} }}", selector)

    def value(self, selector: str) -> str:
        return self.page.evaluate("s => document.querySelector(s)?.value ?? ''", selector)

    def click(self, selector: str) -> None:
        # Gradio may still be mounting the element on a loaded machine
        self.page.wait_for_selector(selector, state="attached")
        self.page.evaluate("s => document.querySelector(s).click()", selector)

    def wait_for_text(self, selector: str, text: str, seconds: float = 20) -> None:
        self.page.wait_for_function(
            f"([s, t]) => {{ const shown = (() => {{ {SHOWN_TEXT_JS} }})(); return shown.includes(t); }}",
            arg=[selector, text],
            polling=100,
            timeout=seconds * 1000,
        )

    def toasts(self) -> list[str]:
        return self.page.evaluate("() => [...document.querySelectorAll('.toast-body')].map(e => e.innerText)")

    def has_toast(self, text: str, seconds: float = 10) -> bool:
        """Wait up to `seconds` for a toast containing `text`; return whether one appeared."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        try:
            self.page.wait_for_function(
                "t => [...document.querySelectorAll('.toast-body')].some(e => e.innerText.includes(t))",
                arg=text,
                polling=100,
                timeout=seconds * 1000,
            )
        except PlaywrightTimeoutError:
            return False
        return True

    def upload(self, path: Path) -> None:
        with self.page.expect_file_chooser() as chooser:
            self.page.locator("#upload").click()
        chooser.value.set_files(str(path))

    def set_text(self, text: str) -> None:
        self.page.locator("#text-box textarea").fill(text)

    def open_settings(self) -> None:
        if not self.page.locator("#epochs input").is_visible():
            self.page.locator("#settings").get_by_text("Training settings").click()

    def set_epochs(self, epochs: int) -> None:
        self.open_settings()
        field = self.page.locator("#epochs input")
        field.fill(str(epochs))
        field.press("Tab")

    def wait_for_explanation(self, char: str, seconds: float = 10) -> tuple[str, str]:
        """Wait up to `seconds` for the explanation of a query of `char`; return (predicted character,
        explanation), the explanation being whatever is there by then."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        try:
            self.page.wait_for_function(
                "c => { const v = document.querySelector('#explanation textarea').value;"
                " return v.startsWith(`After ${c} `) || v.startsWith(`The character ${c} `) }",
                arg=display_char(char),
                polling=100,
                timeout=seconds * 1000,
            )
        except PlaywrightTimeoutError:
            pass  # no explanation of this query appeared, and the caller checks what is there
        return self.value("#predicted textarea"), self.value("#explanation textarea")

    def query_box(self):
        return self.page.locator("#query").locator("textarea, input").first

    def query(self, char: str) -> str:
        """Type one character on the keyboard into the query box; return the predicted character.
        Only characters of a US keyboard arrive as key presses."""
        self.query_box().fill("")
        self.query_box().press_sequentially(char)
        return self.wait_for_explanation(char)[0]

    def pick(self, char: str, label: str) -> str:
        """Pick `char` from the list by the entry that contains `label`; return the predicted character."""
        self.page.locator("#vocab-list input").click()
        self.page.locator("#vocab-list li").filter(has_text=label).first.click()
        return self.wait_for_explanation(char)[0]

    def train_to_end(self) -> str:
        self.click("#train")
        self.wait_for_text("#status", "Finished")
        return self.text("#status")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, app_url):
    opened = Tab(browser, app_url)
    yield opened
    opened.close()


def live_session(demo, epochs: int) -> Session | None:
    """Return the session whose live run was started with `epochs` epochs, if any."""
    for state in list(demo.state_holder.session_data.values()):
        for value in list(state.state_data.values()):
            if isinstance(value, Session) and value.active_run is not None and value.trainer is not None:
                if value.trainer.settings.epochs == epochs:
                    return value
    return None


def last_epoch_change(trainer, since: float, watch_seconds: float = 1.6) -> float:
    """Watch trainer.epoch for `watch_seconds` after `since` (a time.monotonic() value) and return
    how many seconds after `since` it last changed (0 if it never did)."""
    last_epoch, last_change = trainer.epoch, since
    while time.monotonic() < since + watch_seconds:
        if trainer.epoch != last_epoch:
            last_epoch, last_change = trainer.epoch, time.monotonic()
        time.sleep(0.005)
    return last_change - since


def start_long_run(tab: Tab, demo, epochs: int):
    """Press Train on a long run in `tab`; return its session and trainer once it is training."""
    tab.set_text("abcabd" * 50)
    tab.set_epochs(epochs)
    tab.click("#train")
    tab.wait_for_text("#status", "Epoch")
    session = live_session(demo, epochs)
    assert session is not None, "no live run found in the app's sessions"
    trainer = session.trainer
    epoch = trainer.epoch
    time.sleep(0.3)
    assert trainer.epoch > epoch, "the run is not training"
    return session, trainer


@browser_only
@pytest.mark.browser
def test_browser_cp1252_upload_named(tab, tmp_path):
    path = tmp_path / "note.txt"
    path.write_bytes("it’s café\n".encode("cp1252"))

    tab.upload(path)
    tab.wait_for_text("#summary", "Windows-1252")

    assert tab.value("#text-box textarea") == "it’s café\n"
    assert "Finished" in tab.train_to_end()
    assert tab.pick("’", "right single quotation mark") != ""
    assert "s follows ’" in tab.value("#explanation textarea")


@browser_only
@pytest.mark.browser
def test_browser_line_end_uploads(tab, tmp_path):
    for name, line_end in [("crlf.txt", "\r\n"), ("cr.txt", "\r")]:
        path = tmp_path / name
        path.write_bytes(f"ab{line_end}ab{line_end}ab{line_end}".encode())
        tab.set_text("")
        tab.upload(path)
        tab.wait_for_text("#summary", "9 characters")

        assert tab.value("#text-box textarea") == "ab\nab\nab\n", name
        assert "3 distinct" in tab.text("#summary"), name

    tab.train_to_end()
    assert tab.query("b") == "⏎"


@browser_only
@pytest.mark.browser
def test_browser_uploads_rejected(tab, tmp_path):
    uploads = {
        "empty.txt": (b"", "empty"),
        "photo.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "PNG image, not text"),
        "archive.zip": (None, "zip archive"),
    }
    text_before = tab.value("#text-box textarea")

    for name, (data, expected) in uploads.items():
        path = tmp_path / name
        if data is None:
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("notes.txt", "hello world\n" * 50)
        else:
            path.write_bytes(data)
        tab.upload(path)

        assert tab.has_toast(expected), f"{name}: {tab.toasts()}"
        assert tab.value("#text-box textarea") == text_before, name

    tab.set_text("abcabc")
    tab.train_to_end()
    assert tab.query("a") == "b"


@browser_only
@pytest.mark.browser
def test_browser_upload_over_limit(tab, tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"ab" * (LIMITS.max_upload_bytes // 2 + 1))

    tab.upload(path)
    refused = tab.has_toast("maximum allowed size")
    toast = " ".join(tab.toasts())
    tab.open_settings()
    tab.page.wait_for_selector("#limits")
    limits_line = tab.text("#limits")
    stated = re.search(r"maximum allowed size of ([\d.]+)", toast)
    advertised = re.search(r"files up to ([\d.]+)", limits_line)

    assert refused, toast
    assert stated, toast
    assert advertised, limits_line
    assert tab.value("#text-box textarea") != ""
    assert float(stated[1]) == pytest.approx(float(advertised[1]), abs=0.05), (
        f"the refusal says {stated[0]!r} but the page says files up to {advertised[1]}"
    )


@browser_only
@pytest.mark.browser
def test_browser_long_file_name(tab, tmp_path):
    path = tmp_path / ("n" * 196 + ".txt")
    path.write_bytes(b"hello long name\n")

    tab.upload(path)
    tab.wait_for_text("#summary", "16 characters")

    assert tab.value("#text-box textarea") == "hello long name\n"
    assert tab.toasts() == []


@browser_only
@pytest.mark.browser
def test_browser_emoji_from_list_and_paste(tab):
    tab.set_text("hi👍hi👍")
    tab.train_to_end()

    assert tab.pick("👍", "thumbs up sign") != ""
    assert "After 👍" in tab.value("#explanation textarea")

    # a paste or an emoji picker fills the box without a key press
    tab.query_box().fill("")
    tab.query_box().focus()
    tab.page.keyboard.insert_text("i")
    _, explanation = tab.wait_for_explanation("i", seconds=3)
    assert "After i" in explanation, "a pasted character gets no prediction"


@browser_only
@pytest.mark.browser
def test_browser_markup_shown_literally(tab):
    tab.set_text(MARKUP_TEXT)
    tab.train_to_end()
    tab.page.wait_for_function(
        "() => document.querySelectorAll('#embedding-plot svg text').length > 20", polling=100
    )
    labels = tab.page.evaluate(
        "() => [...document.querySelectorAll('#embedding-plot svg text')].map(e => e.textContent)"
    )
    shown = tab.query("<")

    assert tab.dialogs == []
    assert tab.page.locator('img[src="x"]').count() == 0
    assert tab.page.locator('a[href^="javascript"]').count() == 0
    assert {"<", ">", "$", "*", "&", "%", "{", "["} <= set(labels)
    assert tab.value("#text-box textarea") == MARKUP_TEXT
    assert shown != ""


@browser_only
@pytest.mark.browser
def test_browser_status_shows_char_literally(tab):
    """A rejected text's message names its one character; Markdown must not swallow it."""
    tab.set_text("\\" * 4)
    tab.click("#train")
    tab.wait_for_text("#status", "repeats a single character")
    status = tab.text("#status")

    hidden = {}
    for char in ["\\", "*", "_", "`", "<", "&", "$", "[", "#"]:
        tab.set_text("ab")
        tab.wait_for_text("#summary", "2 characters")
        tab.set_text(char * 4)
        tab.wait_for_text("#summary", "repeats a single character")
        summary = tab.text("#summary")
        if f"({char})" not in summary:
            hidden[char] = summary

    assert "(\\)" in status, status
    assert hidden == {}


@browser_only
@pytest.mark.browser
def test_browser_vocab_limit_notice(tab):
    distinct = LIMITS.max_vocab_size + 3
    merged = distinct - (LIMITS.max_vocab_size - 1)

    tab.set_text("".join(chr(0x4E00 + i) for i in range(distinct)))
    tab.wait_for_text("#summary", "merged")

    assert f"{merged} rare characters were merged" in tab.text("#summary")


@browser_only
@pytest.mark.browser
def test_browser_stop_stops_and_train_again(tab, app_demo):
    tab.click("#stop")
    tab.wait_for_text("#status", "No run is going")
    _, trainer = start_long_run(tab, app_demo, epochs=LIMITS.max_epochs - 7)

    pressed = time.monotonic()
    tab.click("#stop")
    last_change = last_epoch_change(trainer, pressed)

    assert last_change < 1.0, f"the run kept training for {last_change:.2f} s after Stop"
    tab.wait_for_text("#status", "Stopped at epoch")
    tab.click("#stop")
    tab.wait_for_text("#status", "No run is going")
    tab.set_epochs(300)
    assert "Finished 300 epochs" in tab.train_to_end()
    assert tab.query("a") == "b"


@browser_only
@pytest.mark.browser
def test_browser_closed_tab_ends_run(browser, app_url, app_demo):
    epochs = LIMITS.max_epochs - 11
    closing = Tab(browser, app_url)
    session, trainer = start_long_run(closing, app_demo, epochs)

    closed = time.monotonic()
    closing.close()
    last_change = last_epoch_change(trainer, closed)

    assert last_change < 1.0, f"the run kept training for {last_change:.2f} s after the tab closed"
    assert trainer.epoch < epochs
    assert session.active_run is None

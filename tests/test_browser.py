"""The running app in headless Chromium: a live run, Stop, prediction, upload, visible stand-ins
for whitespace, and a page that loads nothing from any host but the app's own.

Plotly keeps the figure it drew on its plot div (`.js-plotly-plot`): `data` contains the traces as
the server sent them, numpy arrays still base64-encoded, and `layout` the layout.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import CHROMIUM_ARGS, decode_array

from charembed.examples import JSON_EXAMPLE, load_example
from charembed.settings import TrainingSettings

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need Playwright for Python (pip install playwright)"
)

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 720}
STAND_INS = {" ": "␣", "\n": "⏎", "\t": "⇥"}
DEFAULT_EPOCHS = TrainingSettings().epochs
FINISHED = f"Epoch {DEFAULT_EPOCHS:,} / {DEFAULT_EPOCHS:,}"  # the status line after a default run
# Every update re-mounts both plots, so on a busy 2-vCPU machine the page can fall seconds behind
# the server. Waits are generous because they check correctness, not speed (a benchmark does that).
WAIT_MS = 45_000
sync_api.expect.set_options(timeout=WAIT_MS)

FIGURE_JS = """(id) => {
    const plot = document.querySelector(`#${id} .js-plotly-plot`);
    return plot && plot.data ? {data: plot.data, layout: plot.layout} : null;
}"""
# Samples the loss chart from inside the page each time it draws a new figure. A mutation observer
# runs right after the DOM changes, so the samples show what a person saw and when, even while the
# page is too busy to respond to Playwright.
RECORDER_JS = """() => {
    const decode = (values) => {
        if (!values.bdata) return Array.from(values);
        const bytes = Uint8Array.from(atob(values.bdata), (c) => c.charCodeAt(0));
        const types = {i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array,
                       i4: Int32Array, u4: Uint32Array, f4: Float32Array, f8: Float64Array};
        return Array.from(new types[values.dtype](bytes.buffer));
    };
    window.lossSamples = [];
    window.stopClicks = [];
    document.addEventListener("click", (event) => {
        if (event.target.closest("#stop")) window.stopClicks.push(performance.now());
    }, true);
    let lastData = null;
    const sample = () => {
        const plot = document.querySelector("#loss-plot .js-plotly-plot");
        if (!plot || !plot.data || plot.data === lastData) return;
        lastData = plot.data;
        const run = plot.data.find((trace) => trace.name === "this run");
        if (!run) return;
        const epochs = decode(run.x), losses = decode(run.y);
        window.lossSamples.push({time: performance.now(), epoch: epochs[epochs.length - 1],
                                 first: losses[0], last: losses[losses.length - 1]});
    };
    // the whole body, because Gradio may mount the chart's block after the page has loaded
    new MutationObserver(sample).observe(document.body, {childList: true, subtree: true});
}"""
# the status line's text, whether it is drawn as text or as a read-only text box
STATUS_JS = """() => {
    const status = document.querySelector("#status");
    const field = status.querySelector("textarea, input");
    return field ? field.value : status.textContent;
}"""
# the text of Plotly's text-mode points (the character labels), without titles and annotations
POINT_LABELS_JS = """(id) => Array.from(
    document.querySelectorAll(`#${id} .js-plotly-plot .textpoint text`), (node) => node.textContent)"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    """Open the app in a fresh browser context (a new visitor) and wait for the text summary."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(app_url)
    sync_api.expect(page.locator("#summary")).to_contain_text("characters")
    yield page
    context.close()


# ---- reading the page


def figure(page, elem_id: str) -> dict | None:
    """Return the figure the plot `elem_id` shows, as {"data", "layout"}, or None before one is drawn."""
    return page.evaluate(FIGURE_JS, elem_id)


def status_text(page) -> str:
    return page.evaluate(STATUS_JS)


def wait_for_status(page, text: str) -> None:
    """Wait until the status line contains `text`, and fail with the status it shows instead."""
    try:
        page.wait_for_function(f"(text) => ({STATUS_JS})().includes(text)", arg=text)
    except sync_api.TimeoutError:
        raise AssertionError(f"the status never showed {text!r}, it shows {status_text(page)!r}") from None


def dropdown_options(page, elem_id: str) -> list[str]:
    """Open the dropdown `elem_id`, return its option labels and close it again."""
    field = page.locator(f"#{elem_id} input")
    field.click()
    options = page.get_by_role("listbox").get_by_role("option")
    options.first.wait_for()
    labels = [options.nth(i).get_attribute("aria-label") for i in range(options.count())]
    page.keyboard.press("Escape")
    field.blur()  # a focused dropdown opens again only on the next focus
    return labels


# ---- acting on the page


def open_settings(page) -> None:
    page.locator("#settings .label-wrap").click()
    page.locator("#epochs input").wait_for()


def set_number(page, selector: str, value: int) -> None:
    """Type `value` into a number field and leave it, so Gradio takes the new value."""
    field = page.locator(selector)
    field.fill(str(value))
    field.press("Tab")
    sync_api.expect(field).to_have_value(str(value))


def pick_option(page, elem_id: str, label: str) -> None:
    """Open the dropdown `elem_id` and pick the option whose label contains `label`."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("listbox").get_by_role("option").filter(has_text=label).click()


def click_center(page, box: dict) -> None:
    """Click at a position found earlier. A mouse event is handled before queued page work, so
    this reaches the page as soon as a person's click would while plots are still redrawing."""
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def query(page, char: str) -> None:
    box = page.locator("#query input")
    box.fill("")
    box.press_sequentially(char)


def wait_for_prediction(page) -> str:
    predicted = page.locator("#predicted textarea, #predicted input").first
    sync_api.expect(predicted).not_to_have_value("")
    return predicted.input_value()


# ---- tests


def test_example_pick_and_repick(page):
    json_text = load_example(JSON_EXAMPLE).text
    text_box = page.locator("#text-box textarea")

    assert page.locator("#example input").input_value() == JSON_EXAMPLE
    sync_api.expect(text_box).to_have_value(json_text)
    sync_api.expect(page.locator("#summary")).to_contain_text(f"{len(json_text):,} characters")

    # another text, then the json example again although the dropdown still shows it
    text_box.fill("hello there")
    sync_api.expect(page.locator("#summary")).to_contain_text("11 characters")
    pick_option(page, "example", JSON_EXAMPLE)
    sync_api.expect(text_box).to_have_value(json_text)
    sync_api.expect(page.locator("#summary")).to_contain_text(f"{len(json_text):,} characters")


def test_live_chart_grows_then_stops(page):
    open_settings(page)
    set_number(page, "#epochs input", 20_000)
    set_number(page, "#pace input[type=number]", 20)  # seconds: Stop lands mid-run on any machine
    page.locator("#train").scroll_into_view_if_needed()
    train_box = page.locator("#train").bounding_box()
    stop_box = page.locator("#stop").bounding_box()
    page.evaluate(RECORDER_JS)

    # train for a few seconds without asking the page anything, then Stop
    click_center(page, train_box)
    time.sleep(5)
    click_center(page, stop_box)
    wait_for_status(page, "Stopped at epoch")
    time.sleep(2.5)  # longer than the two seconds the chart may take to settle
    samples, stop_clicks = page.evaluate("[window.lossSamples, window.stopClicks]")
    assert "/ 20,000" in status_text(page), "the run did not get the epochs typed into the settings"

    # the curve grew and fell while the run went on (it is downsampled, so count epochs, not points)
    assert len(stop_clicks) == 1, "the Stop click did not reach the page"
    newest = [sample["epoch"] for sample in samples]
    assert len(set(newest)) >= 3, f"the loss chart did not grow: newest epochs {newest}"
    assert newest == sorted(newest), f"the loss chart went back in time: newest epochs {newest}"
    first, last = samples[0]["first"], samples[-1]["last"]
    assert last < first - 0.5, f"the loss did not fall: {first:.4f} -> {last:.4f}"

    # after Stop the chart settles within two seconds (a busy machine may draw a frame or two late),
    # and stays as it is
    clicked = stop_clicks[0]
    shown_at_click = max([sample["epoch"] for sample in samples if sample["time"] <= clicked], default=0)
    late = [
        f"epoch {sample['epoch']} at {sample['time'] - clicked:.0f} ms"
        for sample in samples
        if sample["time"] > clicked + 2000
    ]
    assert late == [], f"after Stop at epoch {shown_at_click} (as drawn), the loss chart was redrawn: {late}"
    assert samples[-1]["epoch"] < 20_000, "the run ended before Stop reached it"
    assert "Stopped at epoch" in status_text(page)


def test_prediction_fills_outputs(page):
    page.locator("#train").click()
    wait_for_status(page, FINISHED)

    query(page, "e")
    assert wait_for_prediction(page)

    # the probability chart has drawn its bars
    page.wait_for_function(
        "(id) => document.querySelectorAll(`#${id} .bars path`).length > 0", arg="prediction-plot"
    )
    bars = [trace for trace in figure(page, "prediction-plot")["data"] if trace.get("type") == "bar"]
    assert bars, "the prediction chart has no bar traces"
    assert max(decode_array(bars[0]["x"])) > 0

    # the embedding plot rings the queried character and boxes its label
    page.wait_for_function(
        "(id) => document.querySelector(`#${id} .js-plotly-plot`)?.layout?.annotations?.length > 0",
        arg="embedding-plot",
    )
    embedding = figure(page, "embedding-plot")
    rings = [trace for trace in embedding["data"] if trace.get("marker", {}).get("symbol") == "circle-open"]
    assert len(rings) == 1, "the embedding plot has no ring around the queried character"
    labels = [note["text"] for note in embedding["layout"]["annotations"]]
    assert any(">e<" in label for label in labels), f"no boxed label for 'e' among {labels}"


def finished_point_labels(page, elem_id: str, seconds: float = 10) -> list[str]:
    """Return the point labels of the plot `elem_id` once they stop changing: the last frame of a
    run replaces the chart, and for a moment the page holds no chart at all."""
    deadline = time.monotonic() + seconds
    previous = None
    while time.monotonic() < deadline:
        labels = page.evaluate(POINT_LABELS_JS, elem_id)
        if labels and labels == previous:
            return labels
        previous = labels
        time.sleep(0.3)
    return previous or []


def test_upload_shows_stand_ins(page, tmp_path):
    path = tmp_path / "tabs and spaces.txt"
    path.write_bytes(b"a b\tc\r\na b\tc\r\n")

    page.locator("#upload").locator("xpath=../input[@type='file']").set_input_files(path)
    sync_api.expect(page.locator("#text-box textarea")).to_have_value("a b\tc\na b\tc\n")
    summary = page.locator("#summary")
    sync_api.expect(summary).to_contain_text("12 characters")
    sync_api.expect(summary).to_contain_text("6 distinct")

    vocab_labels = " ".join(dropdown_options(page, "vocab-list"))
    for char, stand_in in STAND_INS.items():
        assert stand_in in vocab_labels, f"the vocabulary list shows no {stand_in} for {char!r}"

    page.locator("#train").click()
    wait_for_status(page, FINISHED)
    point_labels = finished_point_labels(page, "embedding-plot")
    for char, stand_in in STAND_INS.items():
        assert stand_in in point_labels, f"the embedding plot labels {point_labels} show no {stand_in}"
        assert char not in "".join(point_labels), f"the embedding plot labels show a raw {char!r}"

    # the prediction names characters by their stand-ins, also one picked from the list because
    # no one can type it into a one-line box
    displayed_chars = {"a", "b", "c", *STAND_INS.values()}
    explanation = page.locator("#explanation textarea")
    query(page, " ")
    assert wait_for_prediction(page) in displayed_chars
    sync_api.expect(explanation).to_have_value(re.compile("^After ␣ the model predicts"))
    pick_option(page, "vocab-list", "⏎")
    sync_api.expect(explanation).to_have_value(re.compile("^After ⏎ the model predicts"))
    assert wait_for_prediction(page) in displayed_chars


def foreign_requests(page, app_url: str) -> list[str]:
    """Abort, and record, every request of `page` to a host other than the app's.

    Returns the list the URLs are added to. Aborted requests never leave the browser.
    """
    app_host = urlsplit(app_url).netloc
    foreign: list[str] = []

    def route(route):
        if urlsplit(route.request.url).netloc == app_host or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    def record_socket(socket):
        if urlsplit(socket.url).netloc != app_host:
            foreign.append(socket.url)

    page.context.route("**/*", route)
    page.on("websocket", record_socket)
    return foreign


def test_page_requests_only_app_host(browser, app_url):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    foreign = foreign_requests(page, app_url)
    try:
        page.goto(app_url)
        sync_api.expect(page.locator("#summary")).to_contain_text("characters")
        page.locator("#train").click()
        wait_for_status(page, FINISHED)
        query(page, "e")
        wait_for_prediction(page)
        page.wait_for_function("document.querySelectorAll('#prediction-plot .bars path').length > 0")
        time.sleep(1)  # for fonts or images the new plots might fetch
    finally:
        context.close()

    assert foreign == [], f"the page requested other hosts: {foreign}"


def test_link_opens_with_its_settings(browser, app_url):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{app_url}?example=sonnets&dim=2&lr=0.05&epochs=300&optimizer=momentum&seed=7")
    sync_api.expect(page.locator("#summary")).to_contain_text("characters")
    open_settings(page)

    sync_api.expect(page.locator("#example input")).to_have_value("Shakespeare's sonnets (1609)")
    sync_api.expect(page.locator("#text-box textarea")).to_have_value(re.compile(r"^THE SONNETS"))
    sync_api.expect(page.locator("#embedding-dim input[type=number]")).to_have_value("2")
    sync_api.expect(page.locator("#learning-rate input")).to_have_value("0.05")
    sync_api.expect(page.locator("#epochs input")).to_have_value("300")
    sync_api.expect(page.locator("#seed input")).to_have_value("7")
    sync_api.expect(page.locator("#optimizer input[value=momentum]")).to_be_checked()
    sync_api.expect(page.locator("#share-link textarea")).to_have_value(re.compile(r"example=sonnets"))
    context.close()

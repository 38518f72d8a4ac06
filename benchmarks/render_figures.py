"""Render the app's Plotly figures to PNG in headless Chromium, on a light and a dark page, and
print the size of each figure's JSON (what gr.Plot sends per update).

A development tool for looking at the figures without starting the app:

    python benchmarks/render_figures.py --out /tmp/charembed-figures

It needs Playwright for Python and a Chromium binary (--chromium, default /usr/bin/chromium).
It uses no network: the page loads plotly.js from the copy bundled in the plotly Python
package. NOTE: that copy can differ from the plotly.js inside Gradio (4.1.1 here, while
gradio 6.31 bundles 3.3.1), so check a change in the app as well.

The example data is the source of Python's json module with made-up embeddings that cluster by
character class, as a trained model's do.
"""

from __future__ import annotations

import argparse
import json
import os
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import plotly
from playwright.sync_api import sync_playwright

from charembed import figures
from charembed.text import describe_char, display_char

THEMES = {"light": "#ffffff", "dark": "#0b0f19"}
VIEWPORT = {"width": 1280, "height": 720}
PLOTLY_JS = Path(os.path.dirname(plotly.__file__)) / "package_data" / "plotly.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def char_labels(vocab: list[str]) -> tuple[list[str], list[str]]:
    """Return the visible stand-ins and hover names of `vocab`."""
    try:
        return [display_char(c) for c in vocab], [describe_char(c) for c in vocab]
    except NotImplementedError:
        # TODO: drop this fallback once charembed.text implements display_char and describe_char.
        stand_ins = {" ": "␣", "\n": "⏎", "\t": "⇥"}
        labels = [stand_ins.get(c, c if c.isprintable() else f"U+{ord(c):04X}") for c in vocab]
        return labels, [unicodedata.name(c, f"U+{ord(c):04X}") for c in vocab]


def clustered_embedding(vocab: list[str], dim: int, seed: int = 0) -> np.ndarray:
    """(V, dim) float32 values in about -3..3, one cluster per character class."""
    rng = np.random.default_rng(seed)
    classes = ("lower", "upper", "digit", "space", "other")
    centers = rng.uniform(-2.4, 2.4, size=(len(classes), dim))

    def character_class(char: str) -> str:
        if char.islower():
            return "lower"
        if char.isupper():
            return "upper"
        if char.isdigit():
            return "digit"
        return "space" if char.isspace() else "other"

    rows = [centers[classes.index(character_class(c))] + rng.normal(0, 0.45, dim) for c in vocab]
    return np.clip(np.array(rows), -3, 3).astype(np.float32)


def example_figures() -> dict[str, object]:
    """Build every figure on the json module's source."""
    text = open(json.__file__, encoding="utf-8").read()
    counts = Counter(text)
    vocab = sorted(counts)
    labels, names = char_labels(vocab)
    char_counts = np.array([counts[c] for c in vocab])
    query = vocab.index("J") if "J" in vocab else 0

    # the notebook's fixed 126 classes: code points absent from the text are unseen
    ascii_vocab = [chr(i) for i in range(126)]
    ascii_labels, ascii_names = char_labels(ascii_vocab)
    ascii_counts = np.array([counts.get(c, 0) for c in ascii_vocab])
    ascii_embedding = clustered_embedding(ascii_vocab, 1)
    unseen = ascii_counts == 0
    ascii_embedding[unseen] = np.random.default_rng(1).uniform(-0.09, 0.09, (unseen.sum(), 1))

    uniform = float(np.log(len(vocab)))
    epochs = np.arange(1, 1501)
    previous_losses = (uniform - 2.45) * np.exp(-epochs / 300) + 2.45
    current_losses = (uniform + 0.1 - 2.2) * np.exp(-epochs / 180) + 2.2
    references = {
        "uniform guess (ln V)": (uniform, "the loss of giving every character equal odds"),
        "unigram model": (3.3, "the lowest loss of a model that ignores the current character"),
        "best bigram model": (2.18, "the lowest loss any model that sees one character can reach"),
    }
    probabilities = np.sort(np.random.default_rng(2).dirichlet(np.ones(10) * 0.6))[::-1]
    return {
        "axis": figures.embedding_figure(
            labels, names, clustered_embedding(vocab, 1), char_counts, highlight=query
        ),
        "axis_ascii126": figures.embedding_figure(
            ascii_labels, ascii_names, ascii_embedding, ascii_counts, highlight=ord("J"), unseen=unseen
        ),
        "plane": figures.embedding_figure(
            labels, names, clustered_embedding(vocab, 2), char_counts, highlight=query
        ),
        "space": figures.embedding_figure(
            labels, names, clustered_embedding(vocab, 3), char_counts, highlight=query
        ),
        "loss": figures.loss_figure(
            figures.Curve(*figures.downsample(epochs[:900], current_losses[:900]), "this run"),
            [figures.Curve(*figures.downsample(epochs, previous_losses), "previous run")],
            references,
            total_epochs=1500,
        ),
        "prediction": figures.prediction_figure(
            ["S", "O", "␣", "<b>", "a", "⏎", "N", "&amp;", "e", "U+0001"],
            probabilities,
            np.roll(probabilities, 1),
            "J",
        ),
        "empty": figures.empty_figure("Train a model to see its embeddings"),
    }


def page_html(figure_json: str, background: str) -> str:
    """Return a page that draws one figure on `background`, 24 px from the edges like an app panel."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><script src="{PLOTLY_JS.as_uri()}"></script></head>
<body style="margin:0; padding:24px; background:{background}">
<div id="plot"></div>
<script>
const figure = {figure_json};
Plotly.newPlot("plot", figure.data, figure.layout, {{displayModeBar: false}})
  .then(() => {{ document.body.dataset.ready = "yes"; }});
</script></body></html>"""


def render(figures_by_name: dict[str, object], out_dir: Path, chromium: str) -> list[Path]:
    """Screenshot every figure on every theme at 1280x720 and return the PNG paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        for name, fig in figures_by_name.items():
            for theme, background in THEMES.items():
                html_path = out_dir / f"{name}-{theme}.html"
                html_path.write_text(page_html(fig.to_json(), background), encoding="utf-8")
                page.goto(html_path.as_uri())
                page.wait_for_selector("body[data-ready=yes]", timeout=15_000)
                png_path = out_dir / f"{name}-{theme}.png"
                page.screenshot(path=str(png_path))
                paths.append(png_path)
        browser.close()
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("/tmp/charembed-figures"), help="folder for HTML and PNG"
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="path of the Chromium binary")
    args = parser.parse_args()

    figures_by_name = example_figures()
    for name, fig in figures_by_name.items():
        print(f"{name:>14}: {len(fig.to_json().encode()):>7,} bytes of JSON")
    for path in render(figures_by_name, args.out, args.chromium):
        print(path)


if __name__ == "__main__":
    main()

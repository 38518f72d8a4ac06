"""Render the app's Plotly figures to PNG in headless Chromium, on a light and a dark page, and
print the size of each figure's JSON (what gr.Plot sends per update) and its build time.

A development tool for looking at the figures without starting the app:

    python benchmarks/render_figures.py --out /tmp/charembed-figures
    python benchmarks/render_figures.py --only axis_band,trajectory_axis

Each figure is drawn twice per theme: across a 1280 x 720 page (NAME-THEME.png) and in a 600 px
wide panel, the embedding plot's width in the app at that viewport (NAME-THEME-600.png).

It needs Playwright for Python and a Chromium binary (--chromium, default /usr/bin/chromium).
It uses no network: the page loads plotly.js from the copy bundled in the plotly Python
package. NOTE: that copy can differ from the plotly.js inside Gradio (4.1.1 here, while
gradio 6.31 bundles 3.3.1), so check a change in the app as well.

The example data is the source of Python's json module: made-up embeddings that cluster by
character class, as a trained model's do, and for the band, trajectory and held-out views real
models trained with the library's defaults (a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import plotly
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from charembed import figures
from charembed.corpus import Corpus, build_corpus
from charembed.inference import prediction_map
from charembed.settings import TrainingSettings
from charembed.text import describe_char, display_char
from charembed.training import Trainer

THEMES = {"light": "#ffffff", "dark": "#0b0f19"}
VIEWPORT = {"width": 1280, "height": 720}
APP_PLOT_WIDTH = 600  # px, the embedding plot's width in the app at VIEWPORT
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
    return [display_char(c) for c in vocab], [describe_char(c) for c in vocab]


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


def trained(text: str, settings: TrainingSettings) -> tuple[Corpus, Trainer]:
    """Train a model on `text` to the end of its epochs and return its corpus and trainer."""
    corpus = build_corpus(text, settings)
    trainer = Trainer(corpus.counts, settings, heldout_counts=corpus.heldout_counts)
    for _ in trainer.run():
        pass
    return corpus, trainer


def band_builder(corpus: Corpus, trainer: Trainer, legend_names: tuple[str, str] | None = None):
    """Return a function that draws the trained embedding with the band of its predictions."""
    labels, names = char_labels(corpus.vocab.itos)
    embedding = trainer.model.embedding.weight.detach().numpy()  # (V, d)
    output = trainer.model.output.weight.detach().numpy()  # (V, d)
    untrained = (corpus.counts.sum(dim=1) == 0).numpy()
    extra = {"unseen": untrained, "legend_names": legend_names} if legend_names else {}

    def build():
        points = figures.band_points(embedding)
        ids, probs = prediction_map(output, points)
        return figures.embedding_figure(
            labels,
            names,
            embedding,
            corpus.char_counts,
            highlight=corpus.vocab.stoi["J"],
            band=(points, ids, probs),
            **extra,
        )

    return build


def trajectory_builder(corpus: Corpus, trainer: Trainer):
    """Return a function that draws the run's embedding trajectories, most frequent characters first."""
    labels, names = char_labels(corpus.vocab.itos)
    epochs = np.array(trainer.trajectory_epochs)
    trajectory = np.stack(trainer.trajectory)  # (T, V, d)
    order = np.argsort(-corpus.char_counts, kind="stable")
    return lambda: figures.trajectory_figure(
        epochs, trajectory, labels, names, highlight=corpus.vocab.stoi["J"], order=order
    )


def example_figures() -> dict[str, object]:
    """Return a function per figure name that builds that figure, on the json module's source."""
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

    # real runs: the defaults at d = 1 and 2, one holding out a tenth of the text, and the notebook
    axis_run = trained(text, TrainingSettings())
    plane_run = trained(text, TrainingSettings(embedding_dim=2))
    heldout_corpus, heldout_trainer = trained(text, TrainingSettings(holdout_fraction=0.1))
    notebook_run = trained(text, TrainingSettings.notebook())

    def heldout_loss():
        curves = [
            figures.Curve(*figures.downsample(*heldout_trainer.loss_history(heldout=heldout)), label)
            for heldout, label in ((False, "this run"), (True, "held-out text"))
        ]
        refs = heldout_corpus.references
        run_references = {
            "uniform guess": (refs.uniform, "ln V: every character equally likely"),
            "best bigram model": (refs.bigram, "the lowest loss any model that sees one character can reach"),
        }
        return figures.loss_figure(
            curves[0], [], run_references, heldout_trainer.settings.epochs, heldout=curves[1]
        )

    return {
        "axis": lambda: figures.embedding_figure(
            labels, names, clustered_embedding(vocab, 1), char_counts, highlight=query
        ),
        "axis_ascii126": lambda: figures.embedding_figure(
            ascii_labels, ascii_names, ascii_embedding, ascii_counts, highlight=ord("J"), unseen=unseen
        ),
        "axis_band": band_builder(*axis_run),
        "axis_band_notebook": band_builder(*notebook_run, legend_names=figures.UNTRAINED_LEGEND_NAMES),
        "plane": lambda: figures.embedding_figure(
            labels, names, clustered_embedding(vocab, 2), char_counts, highlight=query
        ),
        "plane_band": band_builder(*plane_run),
        "space": lambda: figures.embedding_figure(
            labels, names, clustered_embedding(vocab, 3), char_counts, highlight=query
        ),
        "loss": lambda: figures.loss_figure(
            figures.Curve(*figures.downsample(epochs[:900], current_losses[:900]), "this run"),
            [figures.Curve(*figures.downsample(epochs, previous_losses), "previous run")],
            references,
            total_epochs=1500,
        ),
        "loss_heldout": heldout_loss,
        "trajectory_axis": trajectory_builder(*axis_run),
        "trajectory_plane": trajectory_builder(*plane_run),
        "prediction": lambda: figures.prediction_figure(
            ["S", "O", "␣", "<b>", "a", "⏎", "N", "&amp;", "e", "U+0001"],
            probabilities,
            np.roll(probabilities, 1),
            "J",
        ),
        "empty": lambda: figures.empty_figure("Train a model to see its embeddings"),
    }


def build_time_ms(build, repeats: int = 7) -> float:
    """Return the median time in ms of `build()` over `repeats` calls, after one warm-up call."""
    build()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        build()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def page_html(figure_json: str, background: str, width_px: int | None = None) -> str:
    """Return a page that draws one figure on `background`, 24 px from the edges like an app panel,
    across the page or `width_px` wide."""
    width = f"width:{width_px}px" if width_px else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><script src="{PLOTLY_JS.as_uri()}"></script></head>
<body style="margin:0; padding:24px; background:{background}">
<div id="plot" style="{width}"></div>
<script>
const figure = {figure_json};
Plotly.newPlot("plot", figure.data, figure.layout, {{displayModeBar: false}})
  .then(() => {{ document.body.dataset.ready = "yes"; }});
</script></body></html>"""


def render(figures_by_name: dict[str, object], out_dir: Path, chromium: str) -> list[Path]:
    """Screenshot every figure on every theme, across the page and APP_PLOT_WIDTH wide, at
    1280x720, and return the PNG paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        for name, fig in figures_by_name.items():
            for theme, background in THEMES.items():
                for suffix, width_px in (("", None), (f"-{APP_PLOT_WIDTH}", APP_PLOT_WIDTH)):
                    stem = f"{name}-{theme}{suffix}"
                    html_path = out_dir / f"{stem}.html"
                    html_path.write_text(page_html(fig.to_json(), background, width_px), encoding="utf-8")
                    page.goto(html_path.as_uri())
                    page.wait_for_selector("body[data-ready=yes]", timeout=15_000)
                    png_path = out_dir / f"{stem}.png"
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
    parser.add_argument("--only", default="", help="comma-separated figure names to draw (default: all)")
    args = parser.parse_args()

    builders = example_figures()
    if args.only:
        requested = args.only.split(",")
        unknown = sorted(set(requested) - set(builders))
        if unknown:
            parser.error(f"unknown figure names {', '.join(unknown)}: choose from {', '.join(builders)}")
        builders = {name: builders[name] for name in requested}

    figures_by_name = {}
    for name, build in builders.items():
        figures_by_name[name] = build()
        size = len(figures_by_name[name].to_json().encode())
        print(f"{name:>20}: {size:>7,} bytes of JSON, built in {build_time_ms(build):5.1f} ms")
    for path in render(figures_by_name, args.out, args.chromium):
        print(path)


if __name__ == "__main__":
    main()

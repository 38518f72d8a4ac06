"""Tests for charembed.figures: downsampling, the loss curve, the embedding plot in 1-3 dimensions,
the prediction bars, escaping of user text and the size of what gr.Plot would send."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from charembed import figures

REPO = Path(__file__).resolve().parents[1]


def named_chars(count: int, start: int = 0x21) -> list[str]:
    """The first `count` printable, named, non-space characters from code point `start` on."""
    chars, code_point = [], start
    while len(chars) < count:
        char = chr(code_point)
        code_point += 1
        if char.isprintable() and not char.isspace() and unicodedata.name(char, ""):
            chars.append(char)
    return chars


def clustered_embedding(vocab_size: int, dim: int, seed: int = 0) -> np.ndarray:
    """(V, dim) float32 values in three clusters, like a trained model's."""
    rng = np.random.default_rng(seed)
    centers = rng.choice([-2.0, 0.0, 2.0], size=(vocab_size, 1))
    return (centers + rng.normal(0, 0.6, (vocab_size, dim))).astype(np.float32)


def example_inputs(vocab_size: int, dim: int, start: int = 0x21, seed: int = 0):
    """labels, names, embedding, char_counts and unseen for a vocabulary of named characters."""
    labels = named_chars(vocab_size, start)
    names = [unicodedata.name(char) for char in labels]
    counts = np.random.default_rng(seed).integers(0, 50_000, vocab_size)
    return labels, names, clustered_embedding(vocab_size, dim, seed), counts, counts < 1_000


def point_traces(fig: go.Figure) -> dict[str, object]:
    """The hoverable point traces by name ("in text", "not in text")."""
    return {trace.name: trace for trace in fig.data if trace.name in ("in text", "not in text")}


def label_traces(fig: go.Figure) -> list:
    return [trace for trace in fig.data if trace.mode == "text"]


def all_strings(value) -> list[str]:
    """Every string anywhere inside a figure's JSON structure."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in all_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in all_strings(item)]
    return []


def json_size(fig: go.Figure) -> int:
    return len(fig.to_json().encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# downsample


@pytest.mark.parametrize("length", [1, 2, 599, 600, 601, 100_000])
@pytest.mark.parametrize("max_points", [2, 10, 600])
def test_downsample_bounds_and_endpoints(length, max_points):
    epochs = np.arange(1, length + 1)
    losses = np.log1p(epochs).astype(np.float64)

    kept_epochs, kept_losses = figures.downsample(epochs, losses, max_points)

    assert len(kept_epochs) <= max(max_points, 1)
    assert len(kept_epochs) == min(length, max_points)
    assert kept_epochs[0] == epochs[0]
    assert kept_epochs[-1] == epochs[-1]
    assert np.all(np.diff(kept_epochs) > 0)
    np.testing.assert_array_equal(kept_losses, np.log1p(kept_epochs))


def test_downsample_spreads_evenly():
    epochs = np.arange(100_000)
    kept, _ = figures.downsample(epochs, np.zeros(100_000), max_points=600)

    ideal_gap = 99_999 / 599
    gaps = np.diff(kept)
    assert gaps.min() >= np.floor(ideal_gap)
    assert gaps.max() <= np.ceil(ideal_gap)


def test_downsample_thins_in_epochs_not_positions():
    # 1,000 dense epochs, then every 100th epoch up to 100,000
    epochs = np.concatenate([np.arange(1_000), np.arange(1_000, 100_001, 100)])
    kept, _ = figures.downsample(epochs, np.zeros(len(epochs)), max_points=600)

    # the first 1 % of the epochs deserves about 1 % of the points, not half of them
    assert np.count_nonzero(kept < 1_000) <= 8
    assert kept[-1] == 100_000


def test_downsample_rejects_bad_input():
    with pytest.raises(ValueError, match="max_points"):
        figures.downsample(np.arange(10), np.zeros(10), max_points=1)
    with pytest.raises(ValueError, match="one length"):
        figures.downsample(np.arange(10), np.zeros(9))


# ---------------------------------------------------------------------------------------------
# loss curve

REFERENCES = {
    "uniform guess (ln V)": (4.4, "the loss of giving every character equal odds"),
    "best bigram model": (2.2, "the lowest loss a model that sees one character can reach"),
}


def curve(length: int, label: str, start: float = 4.6, end: float = 2.3) -> figures.Curve:
    epochs = np.arange(1, length + 1)
    return figures.Curve(epochs, np.linspace(start, end, length), label)


def test_loss_figure_has_trace_per_curve_and_reference():
    previous = [curve(300, "run 1"), curve(300, "run 2")]

    fig = figures.loss_figure(curve(40, "this run"), previous, REFERENCES, total_epochs=300)

    assert [trace.name for trace in fig.data] == [
        "run 1",
        "run 2",
        "uniform guess (ln V)",
        "best bigram model",
        "this run",
    ]
    current = fig.data[-1]
    assert current.line.width > fig.data[0].line.width
    assert fig.data[0].opacity < 1


def test_loss_figure_x_range_is_fixed():
    for length in (1, 10, 300):
        fig = figures.loss_figure(curve(length, "this run"), [], REFERENCES, total_epochs=300)
        assert tuple(fig.layout.xaxis.range) == (0, 300)
        assert fig.layout.xaxis.title.text == "epoch"
        assert fig.layout.yaxis.title.text == "loss (nats)"


def test_loss_figure_y_range_covers_curves_and_references():
    above = curve(50, "this run", start=6.0, end=3.0)
    below = curve(50, "run 1", start=4.0, end=1.5)

    fig = figures.loss_figure(above, [below], REFERENCES, total_epochs=100)

    low, high = fig.layout.yaxis.range
    assert low < 1.5
    assert high > 6.0
    assert low < 2.2 < 4.4 < high


def test_loss_reference_labels_and_hover():
    fig = figures.loss_figure(None, [], REFERENCES, total_epochs=100)

    for label, (value, meaning) in REFERENCES.items():
        line = next(trace for trace in fig.data if trace.name == label)
        np.testing.assert_allclose(line.y, value, rtol=1e-6)
        assert meaning in line.text
        annotation = next(a for a in fig.layout.annotations if a.text.startswith(label))
        assert f"{value:.3f}" in annotation.text
        assert annotation.x == 1
        assert annotation.xref == "paper"
        assert annotation.hovertext == meaning


def test_loss_figure_streams_compactly():
    current = figures.Curve(*figures.downsample(np.arange(100_000), np.linspace(5, 2, 100_000)), "this run")
    previous = figures.Curve(*figures.downsample(np.arange(100_000), np.linspace(5, 2.5, 100_000)), "run 1")

    fig = figures.loss_figure(current, [previous], REFERENCES, total_epochs=100_000)
    data = json.loads(fig.to_json())

    assert data["layout"]["template"] == {"data": {"scatter": [{"type": "scatter"}]}}
    for trace in data["data"]:
        assert trace["y"]["dtype"] == "f4"  # numpy float32, sent as base64
    assert json_size(fig) < 20_000


def test_loss_figure_draws_only_recent_previous_runs():
    previous = [curve(20, f"run {i}") for i in range(8)]

    fig = figures.loss_figure(None, previous, {}, total_epochs=20, max_previous=5)

    assert [trace.name for trace in fig.data] == [f"run {i}" for i in range(3, 8)]
    opacities = [trace.opacity for trace in fig.data]
    assert opacities == sorted(opacities)  # the newest run is the least faded


# ---------------------------------------------------------------------------------------------
# embedding plot, d = 1


def test_axis_points_sit_at_exact_embedding_values():
    labels, names, embedding, counts, unseen = example_inputs(120, dim=1)

    fig = figures.embedding_figure(labels, names, embedding, counts, highlight=5, unseen=unseen)

    traces = point_traces(fig)
    np.testing.assert_array_equal(traces["in text"].x, embedding[~unseen, 0])
    np.testing.assert_array_equal(traces["not in text"].x, embedding[unseen, 0])
    assert not np.any(traces["in text"].y)
    assert list(traces["in text"].hovertext) == [n for n, u in zip(names, unseen, strict=True) if not u]
    np.testing.assert_array_equal(traces["in text"].customdata, counts[~unseen])


def test_axis_labels_keep_their_points_x():
    labels, names, embedding, counts, _ = example_inputs(120, dim=1)
    x_by_markup = {figures._label_markup(label): x for label, x in zip(labels, embedding[:, 0], strict=True)}

    fig = figures.embedding_figure(labels, names, embedding, counts)

    drawn = 0
    for trace in label_traces(fig):
        for text, x in zip(trace.text, trace.x, strict=True):
            assert x == x_by_markup[text]
            drawn += 1
    assert drawn > 100


def test_axis_labels_in_one_row_never_overlap():
    labels, names, embedding, counts, _ = example_inputs(150, dim=1, seed=3)
    label_by_markup = {figures._label_markup(label): label for label in labels}
    width_px = 900

    fig = figures.embedding_figure(labels, names, embedding, counts, width_px=width_px)

    # the figure's own rule: a label is as wide as its text plus a gap, in data units of the axis
    low, high = fig.layout.xaxis.range
    units_per_px = (high - low) / (width_px - fig.layout.margin.l - fig.layout.margin.r)
    rows: dict[float, list[tuple[float, float]]] = {}
    for trace in label_traces(fig):
        for text, x, y in zip(trace.text, trace.x, trace.y, strict=True):
            half = (figures._label_width_px(label_by_markup[text]) + figures.LABEL_GAP_PX) * units_per_px / 2
            rows.setdefault(y, []).append((x - half, x + half))
    assert len(rows) >= 4  # the clusters needed rows above and below
    for intervals in rows.values():
        intervals.sort()
        for (_, right), (left, _) in itertools.pairwise(intervals):
            assert right <= left + 1e-9


def test_assign_rows_alternates_and_never_overlaps():
    rng = np.random.default_rng(7)
    centers = np.sort(np.concatenate([rng.normal(0, 0.3, 80), rng.normal(3, 0.1, 40)]))
    widths = rng.uniform(0.05, 0.2, len(centers))

    rows = figures._assign_rows(centers, widths, list(range(len(centers))), np.full(len(centers), 30))

    assert np.all(rows != 0)
    assert rows[0] == 1
    for row in np.unique(rows):
        members = np.flatnonzero(rows == row)
        lefts, rights = centers[members] - widths[members] / 2, centers[members] + widths[members] / 2
        assert np.all(rights[:-1] <= lefts[1:])


def test_assign_rows_limits_levels_and_respects_reserved():
    centers = np.zeros(5)
    widths = np.ones(5)

    rows = figures._assign_rows(centers, widths, [0, 1, 2, 3, 4], np.array([2, 2, 2, 2, 1]), [(1, -1.0, 1.0)])

    assert rows.tolist() == [-1, 2, -2, 0, 0]


def test_axis_highlight_is_prominent():
    labels, names, embedding, counts, _ = example_inputs(100, dim=1)
    query = labels.index("J")

    fig = figures.embedding_figure(labels, names, embedding, counts, highlight=query)

    box = next(a for a in fig.layout.annotations if a.bgcolor == figures.ACCENT_COLOR)
    assert box.text == "<b>J</b>"
    assert box.x == pytest.approx(embedding[query, 0])
    assert box.font.size > figures.LABEL_FONT_SIZE
    ring = next(trace for trace in fig.data if trace.marker and trace.marker.symbol == "circle-open")
    assert ring.x[0] == embedding[query, 0]
    assert ring.marker.color == figures.ACCENT_COLOR


def test_axis_unseen_entries_are_greyed():
    labels, names, embedding, counts, unseen = example_inputs(126, dim=1)

    fig = figures.embedding_figure(labels, names, embedding, counts, unseen=unseen)

    greyed = point_traces(fig)["not in text"]
    assert greyed.marker.color == figures.UNSEEN_COLOR
    assert greyed.showlegend
    assert fig.layout.showlegend
    assert len(greyed.x) == unseen.sum()
    unseen_labels = {label for label, u in zip(labels, unseen, strict=True) if u}
    for trace in label_traces(fig):
        if set(trace.text) & unseen_labels:
            assert trace.textfont.color == figures.UNSEEN_COLOR


def test_axis_without_unseen_has_no_legend():
    labels, names, embedding, counts, _ = example_inputs(30, dim=1)

    fig = figures.embedding_figure(labels, names, embedding, counts)

    assert list(point_traces(fig)) == ["in text"]
    assert not fig.layout.showlegend


def test_axis_counts_labels_left_out():
    labels, names, _, counts, _ = example_inputs(1000, dim=1)
    embedding = np.random.default_rng(0).normal(0, 1, (1000, 1)).astype(np.float32)

    fig = figures.embedding_figure(labels, names, embedding, counts)

    drawn = sum(len(trace.text) for trace in label_traces(fig))
    note = next(a for a in fig.layout.annotations if "left out" in a.text)
    assert note.text.startswith(f"{1000 - drawn} labels")


# ---------------------------------------------------------------------------------------------
# embedding plot, d = 2 and 3


def test_plane_is_a_scatter_with_exact_points():
    labels, names, embedding, counts, unseen = example_inputs(100, dim=2)

    fig = figures.embedding_figure(labels, names, embedding, counts, highlight=0, unseen=unseen)

    assert all(isinstance(trace, go.Scatter) for trace in fig.data)
    seen = point_traces(fig)["in text"]
    np.testing.assert_array_equal(seen.x, embedding[~unseen, 0])
    np.testing.assert_array_equal(seen.y, embedding[~unseen, 1])
    assert fig.layout.yaxis.scaleanchor == "x"
    assert any(a.bgcolor == figures.ACCENT_COLOR for a in fig.layout.annotations)


def test_plane_labels_never_overlap():
    labels, names, embedding, counts, _ = example_inputs(150, dim=2, seed=5)
    label_by_markup = {figures._label_markup(label): label for label in labels}
    width_px, height = 900, 600

    fig = figures.embedding_figure(labels, names, embedding, counts, width_px=width_px, height=height)

    low, high = fig.layout.xaxis.range
    units_per_px = (high - low) / (width_px - fig.layout.margin.l - fig.layout.margin.r)
    boxes = []
    for trace in label_traces(fig):
        for text, x, y in zip(trace.text, trace.x, trace.y, strict=True):
            half_width = figures._label_width_px(label_by_markup[text]) * units_per_px / 2
            half_height = figures.LABEL_FONT_SIZE * 1.15 * units_per_px / 2
            boxes.append((x - half_width, y - half_height, x + half_width, y + half_height))
    boxes = np.array(boxes)
    assert len(boxes) > 75
    overlaps = (boxes[:, None, :2] < boxes[None, :, 2:] - 1e-9) & (
        boxes[None, :, :2] < boxes[:, None, 2:] - 1e-9
    )
    overlapping_pairs = overlaps.all(axis=2) & ~np.eye(len(boxes), dtype=bool)
    assert not overlapping_pairs.any()


def test_space_is_scatter3d_with_labels():
    labels, names, embedding, counts, unseen = example_inputs(100, dim=3)

    fig = figures.embedding_figure(labels, names, embedding, counts, highlight=2, unseen=unseen)

    assert all(isinstance(trace, go.Scatter3d) for trace in fig.data)
    seen = point_traces(fig)["in text"]
    assert "text" in seen.mode
    np.testing.assert_array_equal(seen.z, embedding[~unseen, 2])
    assert point_traces(fig)["not in text"].marker.color == figures.UNSEEN_COLOR
    assert fig.layout.scene.annotations[0].bgcolor == figures.ACCENT_COLOR


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_embedding_figure_rejects_bad_input(dim):
    labels, names, embedding, counts, _ = example_inputs(10, dim)

    with pytest.raises(ValueError, match="names has 9 entries"):
        figures.embedding_figure(labels, names[:-1], embedding, counts)
    with pytest.raises(ValueError, match="highlight id 10"):
        figures.embedding_figure(labels, names, embedding, counts, highlight=10)
    embedding[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        figures.embedding_figure(labels, names, embedding, counts)
    with pytest.raises(ValueError, match="shape"):
        figures.embedding_figure(labels, names, np.zeros((10, 4)), counts)


# ---------------------------------------------------------------------------------------------
# user text is shown literally

MARKUP_LABELS = ["<i>", "<a href='https://example.com'>", "&amp;", "$x$", "<sup>", "a"]
MARKUP_NAMES = ["<i>italic</i>", "<a href='https://example.com'>link</a>", "AMP &lt;", "$y$", "<u>u</u>", "A"]
# tags Plotly interprets; none of them appears in the figures' own markup
FORBIDDEN_TAGS = ["<i>", "<a ", "<sup>", "<u>"]


def test_escape_is_not_applied_twice():
    assert figures._escape("&lt;") == "&amp;lt;"
    assert figures._escape("<b>") == "&lt;b&gt;"
    assert figures._escape("$x$") == "&#36;x&#36;"


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_markup_in_labels_and_names_is_escaped(dim):
    embedding = clustered_embedding(len(MARKUP_LABELS), dim)
    counts = np.arange(len(MARKUP_LABELS))

    fig = figures.embedding_figure(MARKUP_LABELS, MARKUP_NAMES, embedding, counts, highlight=0)

    strings = all_strings(json.loads(fig.to_json()))
    for tag in FORBIDDEN_TAGS:
        assert not [s for s in strings if tag in s], tag
    assert any("&lt;a href=" in s for s in strings)  # the highlighted or hovered form
    assert any("&amp;amp;" in s for s in strings) or any("&\u2060amp;" in s for s in strings)
    assert not [s for s in strings if "$y$" in s]


def test_markup_in_3d_labels_is_broken_for_webgl():
    embedding = clustered_embedding(len(MARKUP_LABELS), 3)

    fig = figures.embedding_figure(MARKUP_LABELS, MARKUP_NAMES, embedding, np.arange(len(MARKUP_LABELS)))

    texts = list(point_traces(fig)["in text"].text)
    assert texts[0] == "<\u2060i>"
    assert texts[2] == "&\u2060amp;"
    assert [text.replace("\u2060", "") for text in texts] == MARKUP_LABELS


def test_markup_in_prediction_and_empty_figure_is_escaped():
    fig = figures.prediction_figure(MARKUP_LABELS, np.full(6, 0.1), np.full(6, 0.2), "<a href='x'>")
    empty = figures.empty_figure("<i>nothing</i> & more")

    for figure in (fig, empty):
        strings = all_strings(json.loads(figure.to_json()))
        for tag in FORBIDDEN_TAGS:
            assert not [s for s in strings if tag in s], tag
    assert "&lt;a href='x'&gt;" in fig.layout.title.text
    assert empty.layout.annotations[0].text == "&lt;i&gt;nothing&lt;/i&gt; &amp; more"


# ---------------------------------------------------------------------------------------------
# size of a streamed update


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize(
    ("vocab_size", "start", "max_bytes"),
    [(100, 0x21, 30_000), (1000, 0x21, 100_000), (1000, 0x4E00, 100_000)],
)
def test_embedding_figure_json_size(dim, vocab_size, start, max_bytes):
    labels, names, embedding, counts, unseen = example_inputs(vocab_size, dim, start)

    fig = figures.embedding_figure(labels, names, embedding, counts, highlight=1, unseen=unseen)

    assert json_size(fig) < max_bytes


# ---------------------------------------------------------------------------------------------
# prediction bars and placeholder


def test_prediction_figure_pairs_model_and_text():
    predicted = np.array([0.5, 0.3, 0.2])
    actual = np.array([0.6, 0.1, 0.3])

    fig = figures.prediction_figure(["S", "␣", "O"], predicted, actual, "J")

    model, text = fig.data
    assert (model.name, text.name) == ("model", "in the text")
    assert model.orientation == text.orientation == "h"
    np.testing.assert_allclose(model.x, predicted)
    np.testing.assert_allclose(text.x, actual)
    assert model.y[0] == "S"
    assert "␣" in model.y[1]
    assert "%{x:.1%}" in model.hovertemplate
    assert "J" in fig.layout.title.text
    assert fig.layout.yaxis.autorange == "reversed"


def test_prediction_figure_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one length"):
        figures.prediction_figure(["a", "b"], np.ones(2), np.ones(3), "x")


def test_empty_figure_hides_axes():
    fig = figures.empty_figure("Train a model to see its embeddings")

    assert fig.layout.xaxis.visible is False
    assert fig.layout.yaxis.visible is False
    assert fig.layout.annotations[0].text == "Train a model to see its embeddings"
    assert not fig.data


# ---------------------------------------------------------------------------------------------
# dependencies


def test_figures_module_does_not_import_gradio():
    source = (REPO / "charembed" / "figures.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "gradio" not in imported

    check = "import sys, charembed.figures; sys.exit(int('gradio' in sys.modules))"
    result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

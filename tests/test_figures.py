"""Tests for charembed.figures: downsampling, the loss curve and its held-out curve, the embedding plot
in 1-3 dimensions and its prediction band, trajectories, the prediction bars, escaping of user text
and the size of what gr.Plot would send."""

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
from charembed.inference import prediction_map

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
    return [trace for trace in fig.data if getattr(trace, "mode", None) == "text"]


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


def band_for(embedding: np.ndarray, output: np.ndarray, **kwargs) -> tuple:
    """The band of `output` over the embedding plot of `embedding`, as the app computes it."""
    points = figures.band_points(embedding, **kwargs)
    return (points, *prediction_map(output, points))


def heatmaps(fig: go.Figure) -> list:
    return [trace for trace in fig.data if isinstance(trace, go.Heatmap)]


def chips(fig: go.Figure) -> list:
    return [a for a in fig.layout.annotations if a.bgcolor in figures.REGION_CHIP_COLORS]


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

    assert legend_names(fig) == [
        "run 1",
        "run 2",
        "uniform guess (ln V)",
        "best bigram model",
        "this run",
    ]
    current = trace_named(fig, "this run")
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
        assert annotation.hovertext is None  # the line's own hover shows the meaning


def test_loss_figure_streams_compactly():
    current = figures.Curve(*figures.downsample(np.arange(100_000), np.linspace(5, 2, 100_000)), "this run")
    previous = figures.Curve(*figures.downsample(np.arange(100_000), np.linspace(5, 2.5, 100_000)), "run 1")

    fig = figures.loss_figure(current, [previous], REFERENCES, total_epochs=100_000)
    data = json.loads(fig.to_json())

    assert data["layout"]["template"] == {}  # no default template
    for trace in data["data"]:
        assert trace["y"]["dtype"] == "f4"  # numpy float32, sent as base64
    assert json_size(fig) < 20_000


def test_loss_figure_draws_only_recent_previous_runs():
    previous = [curve(20, f"run {i}") for i in range(8)]

    fig = figures.loss_figure(None, previous, {}, total_epochs=20, max_previous=5)

    assert [trace.name for trace in fig.data] == [f"run {i}" for i in range(3, 8)]
    opacities = [trace.opacity for trace in fig.data]
    assert opacities == sorted(opacities)  # the newest run is the least faded


def test_loss_figure_draws_heldout_curve():
    heldout = curve(40, "held-out text", start=4.8, end=3.9)

    fig = figures.loss_figure(curve(40, "this run"), [curve(300, "run 1")], REFERENCES, 300, heldout=heldout)

    assert legend_names(fig)[-2:] == ["held-out text", "this run"]  # the current run stays on top
    drawn, current = trace_named(fig, "held-out text"), trace_named(fig, "this run")
    np.testing.assert_allclose(drawn.y, heldout.losses, rtol=1e-6)
    assert drawn.line.dash == "dot"
    assert drawn.line.color == current.line.color == figures.CURRENT_COLOR
    assert drawn.legendrank > (current.legendrank or 1000)  # listed after "this run"
    assert fig.layout.showlegend


def test_loss_y_range_covers_heldout_curve():
    heldout = curve(40, "held-out text", start=7.0, end=6.5)

    fig = figures.loss_figure(curve(40, "this run"), [], REFERENCES, 40, heldout=heldout)

    assert fig.layout.yaxis.range[1] > 7.0


def test_loss_figure_without_heldout_is_unchanged():
    fig = figures.loss_figure(curve(40, "this run"), [], REFERENCES, 40, heldout=None)

    assert legend_names(fig) == [*REFERENCES, "this run"]


def test_loss_figure_marks_only_newest_point():
    fig = figures.loss_figure(curve(40, "this run"), [], REFERENCES, 40)

    assert trace_named(fig, "this run").mode == "lines"  # no per-point markers to redraw
    newest = trace_named(fig, "this run, newest epoch")
    assert list(newest.x) == [40]
    assert newest.showlegend is False


def legend_names(fig) -> list[str]:
    """Names of the loss figure's traces, leaving out the dots on the newest points."""
    return [trace.name for trace in fig.data if not trace.name.endswith(", newest epoch")]


def trace_named(fig, name: str):
    return next(trace for trace in fig.data if trace.name == name)


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


def test_unseen_legend_names_are_configurable():
    labels, names, embedding, counts, unseen = example_inputs(40, dim=2)

    fig = figures.embedding_figure(
        labels, names, embedding, counts, unseen=unseen, legend_names=("trained", "<untrained>")
    )

    assert [trace.name for trace in fig.data if trace.showlegend] == ["trained", "&lt;untrained&gt;"]


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_unseen_hover_note_follows_legend_name(dim):
    labels, names, embedding, counts, unseen = example_inputs(40, dim=dim)

    default = figures.embedding_figure(labels, names, embedding, counts, unseen=unseen)
    untrained = figures.embedding_figure(
        labels, names, embedding, counts, unseen=unseen, legend_names=figures.UNTRAINED_LEGEND_NAMES
    )

    assert "not in text: keeps its initial value" in point_traces(default)["not in text"].hovertemplate
    assert "keeps its initial value" not in point_traces(default)["in text"].hovertemplate
    legend = {trace.name: trace for trace in untrained.data if trace.showlegend}
    assert list(legend) == ["trained", "untrained"]
    assert "untrained: keeps its initial value" in legend["untrained"].hovertemplate
    assert "keeps its initial value" not in legend["trained"].hovertemplate


def test_unseen_hover_note_is_escaped():
    labels, names, embedding, counts, unseen = example_inputs(40, dim=1)

    fig = figures.embedding_figure(
        labels, names, embedding, counts, unseen=unseen, unseen_note="<b>never</b> trained, %{x} stays"
    )

    template = point_traces(fig)["not in text"].hovertemplate
    assert "&lt;b&gt;never&lt;/b&gt; trained, &#37;{x} stays" in template
    assert template.count("%{x") == 1  # only the figure's own placeholder


def test_default_width_is_the_app_plot_width():
    labels, names, embedding, counts, _ = example_inputs(100, dim=1, seed=3)

    fig = figures.embedding_figure(labels, names, embedding, counts)

    # the label rows leave room for labels at 600 px: the rows-never-overlap rule at that width
    assert figures.DEFAULT_WIDTH_PX == 600
    label_by_markup = {figures._label_markup(label): label for label in labels}
    low, high = fig.layout.xaxis.range
    units_per_px = (high - low) / (600 - fig.layout.margin.l - fig.layout.margin.r)
    rows: dict[float, list[tuple[float, float]]] = {}
    for trace in label_traces(fig):
        for text, x, y in zip(trace.text, trace.x, trace.y, strict=True):
            half = (figures._label_width_px(label_by_markup[text]) + figures.LABEL_GAP_PX) * units_per_px / 2
            rows.setdefault(y, []).append((x - half, x + half))
    for intervals in rows.values():
        intervals.sort()
        for (_, right), (left, _) in itertools.pairwise(intervals):
            assert right <= left + 1e-9


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
# the band: what a character at each place would predict


def sign_rule_model(vocab_size: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A d = 1 embedding and output map with distinct output values."""
    rng = np.random.default_rng(seed)
    embedding = rng.normal(0, 2, (vocab_size, 1)).astype(np.float32)
    output = rng.permutation(np.linspace(-3, 3, vocab_size)).astype(np.float32)[:, None]
    return embedding, output


def test_band_points_span_the_axis():
    embedding, _ = sign_rule_model()

    points = figures.band_points(embedding)
    fig = figures.embedding_figure(*example_inputs(30, dim=1)[:2], embedding, np.ones(30))

    assert points.shape == (200, 1)
    assert points.dtype == np.float32
    assert points[0, 0] == pytest.approx(fig.layout.xaxis.range[0])
    assert points[-1, 0] == pytest.approx(fig.layout.xaxis.range[1])
    assert np.all(np.diff(points[:, 0]) > 0)


def test_band_points_tile_the_plane():
    labels, names, embedding, counts, _ = example_inputs(50, dim=2)

    points = figures.band_points(embedding, resolution=30)
    fig = figures.embedding_figure(labels, names, embedding, counts)

    columns, rows = np.unique(points[:, 0]), np.unique(points[:, 1])
    assert len(columns) == 30
    assert len(points) == len(columns) * len(rows)
    cell = columns[1] - columns[0]
    assert columns[0] - cell / 2 == pytest.approx(fig.layout.xaxis.range[0], abs=1e-4)
    assert columns[-1] + cell / 2 == pytest.approx(fig.layout.xaxis.range[1], abs=1e-4)
    row_height = rows[1] - rows[0]
    assert rows[0] - row_height / 2 == pytest.approx(fig.layout.yaxis.range[0], abs=1e-4)
    assert row_height == pytest.approx(cell, rel=0.05)  # square cells


def test_band_points_for_3d_are_empty():
    assert figures.band_points(np.zeros((5, 3))).shape == (0, 3)


def test_axis_band_predicts_by_the_sign_rule():
    embedding, output = sign_rule_model()
    labels, names, _, counts, _ = example_inputs(30, dim=1)

    fig = figures.embedding_figure(labels, names, embedding, counts, band=band_for(embedding, output))

    (strip,) = heatmaps(fig)
    x = np.asarray(strip.x, dtype=np.float64)
    w = output[:, 0].astype(np.float64)
    for k in range(0, len(x), 7):
        if x[k] == 0:
            continue  # every logit is 0 there, so no character is the argmax
        expected = int(np.argmax(x[k] * w))  # argmax over b of e * w[b], computed directly
        assert strip.text[0][k] == figures._escape(labels[expected])
        # with one dimension only the sign of e matters: the largest w wins for e > 0, the smallest for e < 0
        assert expected == (int(w.argmax()) if x[k] > 0 else int(w.argmin()))


def test_band_probability_hover_and_opacity():
    embedding, output = sign_rule_model()
    labels, names, _, counts, _ = example_inputs(30, dim=1)
    points, ids, probs = band_for(embedding, output)

    fig = figures.embedding_figure(labels, names, embedding, counts, band=(points, ids, probs))

    (strip,) = heatmaps(fig)
    np.testing.assert_array_equal(np.asarray(strip.customdata)[0], np.rint(probs * 100))
    assert "a character here predicts <b>%{text}</b> (p = %{customdata}%)" in strip.hovertemplate
    # within one colour, a higher probability gets a higher code, which the colorscale makes more opaque
    codes = np.asarray(strip.z)[0].astype(int)
    right = points[:, 0] > 0
    assert np.all(np.diff(codes[right]) * np.sign(np.diff(probs[right])) >= 0)
    alphas = [float(color.rsplit(",", 1)[1].rstrip(")")) for _, color in strip.colorscale]
    assert alphas[0] < alphas[1]


def test_axis_band_strip_sits_below_the_labels():
    embedding, output = sign_rule_model()
    labels, names, _, counts, _ = example_inputs(30, dim=1)

    fig = figures.embedding_figure(labels, names, embedding, counts, band=band_for(embedding, output))

    (strip,) = heatmaps(fig)
    strip_top = max(strip.y)
    assert min(strip.y) == pytest.approx(fig.layout.yaxis.range[0])
    lowest_label = min(min(trace.y) - 2 for trace in label_traces(fig))  # labels below hang 2 units down
    assert strip_top < lowest_label
    assert fig.data[0] is strip  # drawn first, under everything else


def test_axis_band_chips_name_both_predictions():
    embedding, output = sign_rule_model()
    labels, names, _, counts, _ = example_inputs(30, dim=1)

    fig = figures.embedding_figure(labels, names, embedding, counts, band=band_for(embedding, output))

    texts = sorted(chip.text for chip in chips(fig))
    w = output[:, 0]
    expected = sorted(f"predicts <b>{figures._label_markup(labels[i])}</b>" for i in (w.argmax(), w.argmin()))
    assert texts == expected
    negative, positive = sorted(chips(fig), key=lambda chip: chip.x)
    assert negative.x < 0 < positive.x
    assert negative.bgcolor != positive.bgcolor  # neighbours never share a colour


def test_band_is_drawn_only_when_given():
    embedding, output = sign_rule_model()
    labels, names, _, counts, _ = example_inputs(30, dim=1)

    plain = figures.embedding_figure(labels, names, embedding, counts)
    banded = figures.embedding_figure(labels, names, embedding, counts, band=band_for(embedding, output))

    assert not heatmaps(plain)
    assert not chips(plain)
    assert len(heatmaps(banded)) == 1
    assert chips(banded)


def test_space_ignores_band():
    labels, names, embedding, counts, _ = example_inputs(20, dim=3)
    band = (np.zeros((4, 3)), np.zeros(4, dtype=int), np.ones(4))

    fig = figures.embedding_figure(labels, names, embedding, counts, band=band)

    assert not heatmaps(fig)
    assert all(isinstance(trace, go.Scatter3d) for trace in fig.data)


def plane_model(vocab_size: int = 40, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return clustered_embedding(vocab_size, 2, seed), rng.normal(0, 2, (vocab_size, 2)).astype(np.float32)


def test_plane_regions_predict_the_argmax():
    embedding, output = plane_model()
    labels, names, _, counts, _ = example_inputs(40, dim=2)

    fig = figures.embedding_figure(labels, names, embedding, counts, band=band_for(embedding, output))

    (regions,) = heatmaps(fig)
    text = np.asarray(regions.text)
    assert text.shape == (len(regions.y), len(regions.x))
    for row in range(0, len(regions.y), 5):
        for column in range(0, len(regions.x), 5):
            point = np.array([regions.x[column], regions.y[row]], dtype=np.float64)
            expected = int(np.argmax(output.astype(np.float64) @ point))
            assert text[row, column] == figures._escape(labels[expected])
    assert fig.data[0] is regions  # behind the labels and points
    assert not fig.layout.showlegend


def test_plane_region_chips_sit_inside_their_region():
    embedding, output = plane_model()
    labels, names, _, counts, _ = example_inputs(40, dim=2)

    fig = figures.embedding_figure(labels, names, embedding, counts, band=band_for(embedding, output))

    placed = chips(fig)
    assert len(placed) >= 2
    markup_to_id = {figures._label_markup(label): i for i, label in enumerate(labels)}
    for chip in placed:
        markup = chip.text.split("<b>")[1].removesuffix("</b>")
        expected = int(np.argmax(output.astype(np.float64) @ np.array([chip.x, chip.y])))
        assert markup_to_id[markup] == expected


def test_plane_region_chips_keep_clear_of_points():
    embedding, output = plane_model()
    labels, names, _, counts, _ = example_inputs(40, dim=2)

    fig = figures.embedding_figure(labels, names, embedding, counts, band=band_for(embedding, output))

    # each chip's box, by the figure's own size rule, holds no point
    chip_widths_px = {text: width for label in labels for text, width in figures._chip_texts(label)}
    low, high = fig.layout.xaxis.range
    units_per_px = (high - low) / (600 - fig.layout.margin.l - fig.layout.margin.r)
    half_height = (figures._CHIP_FONT_SIZE * 1.3 + 6) * units_per_px / 2
    for chip in chips(fig):
        half_width = chip_widths_px[chip.text] * units_per_px / 2
        inside_x = np.abs(embedding[:, 0] - chip.x) < half_width
        inside_y = np.abs(embedding[:, 1] - chip.y) < half_height
        assert not (inside_x & inside_y).any()


def test_band_rejects_bad_input():
    embedding, output = sign_rule_model()
    labels, names, _, counts, _ = example_inputs(30, dim=1)
    points, ids, probs = band_for(embedding, output)

    def draw(band, embedding=embedding):
        figures.embedding_figure(labels, names, embedding, counts, band=band)

    with pytest.raises(ValueError, match="shape"):
        draw((np.zeros((5, 2)), ids[:5], probs[:5]))
    with pytest.raises(ValueError, match="one predicted id and one probability per point"):
        draw((points, ids[:-1], probs))
    with pytest.raises(ValueError, match=r"0\.\.29"):
        draw((points, np.full(len(ids), 30), probs))
    with pytest.raises(ValueError, match="NaN"):
        draw((points, ids, np.full(len(probs), np.nan)))
    plane = clustered_embedding(30, 2)
    with pytest.raises(ValueError, match="full grid"):
        draw((np.random.default_rng(0).normal(size=(12, 2)), np.zeros(12, dtype=int), np.ones(12)), plane)
    with pytest.raises(ValueError, match="resolution"):
        figures.band_points(embedding, resolution=1)


def test_band_labels_are_escaped():
    labels = ["<b>", "&amp;", "$x$", "<i>", "a", "b"]
    embedding = np.array([[-2.0], [-1.0], [0.5], [1.0], [2.0], [3.0]], dtype=np.float32)
    output = np.array(
        [[-3.0], [1.0], [0.0], [3.0], [0.5], [0.2]], dtype=np.float32
    )  # <i> for e > 0, <b> for e < 0

    fig = figures.embedding_figure(labels, labels, embedding, np.ones(6), band=band_for(embedding, output))

    strings = all_strings(json.loads(fig.to_json()))
    for tag in FORBIDDEN_TAGS:
        assert not [s for s in strings if tag in s], tag
    assert set(np.asarray(heatmaps(fig)[0].text).ravel()) == {"&lt;b&gt;", "&lt;i&gt;"}
    assert sorted(chip.text for chip in chips(fig)) == [
        "predicts <b>&lt;b&gt;</b>",
        "predicts <b>&lt;i&gt;</b>",
    ]


@pytest.mark.parametrize(("dim", "max_bytes"), [(1, 15_000), (2, 26_000)])
def test_band_json_size(dim, max_bytes):
    labels, names, embedding, counts, unseen = example_inputs(100, dim)
    output = np.random.default_rng(0).normal(0, 2, (100, dim)).astype(np.float32)

    fig = figures.embedding_figure(
        labels, names, embedding, counts, highlight=1, unseen=unseen, band=band_for(embedding, output)
    )

    assert json_size(fig) < max_bytes


# ---------------------------------------------------------------------------------------------
# trajectories


def random_trajectory(frames: int, vocab_size: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """epochs (T,) and a (T, V, d) random walk from near 0, like embeddings during training."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.05, (frames, vocab_size, dim)) + rng.normal(0, 0.01, (1, vocab_size, dim))
    return np.arange(frames) * 3, np.cumsum(steps, axis=0).astype(np.float32)


def split_lines(trace) -> list[np.ndarray]:
    """The lines of a NaN-separated trace, as arrays of their y values."""
    y = np.asarray(trace.y, dtype=np.float64)
    breaks = np.flatnonzero(np.isnan(y))
    parts = [part[~np.isnan(part)] for part in np.split(y, breaks)]
    return [part for part in parts if len(part)]


def test_trajectory_draws_one_line_per_character():
    epochs, trajectory = random_trajectory(50, 30, dim=1)
    labels, names, *_ = example_inputs(30, dim=1)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names)

    lines = split_lines(fig.data[0])
    assert len(lines) == 30
    for k, line in enumerate(lines):
        np.testing.assert_allclose(line, trajectory[:, k, 0], rtol=1e-6)
    assert fig.data[0].opacity < 1
    assert fig.data[0].line.width < 2
    assert fig.layout.xaxis.title.text == "epoch"
    assert fig.layout.xaxis.range[0] == 0
    assert fig.layout.xaxis.range[1] >= epochs[-1]


def test_trajectory_highlight_is_thick_and_accented():
    epochs, trajectory = random_trajectory(50, 30, dim=1)
    labels, names, *_ = example_inputs(30, dim=1)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names, highlight=7)

    highlighted = next(trace for trace in fig.data if trace.line and trace.line.color == figures.ACCENT_COLOR)
    np.testing.assert_allclose(highlighted.y, trajectory[:, 7, 0], rtol=1e-6)
    assert highlighted.line.width > fig.data[0].line.width
    label_trace = fig.data[-1]
    index = list(label_trace.text).index(f"<b>{figures._label_markup(labels[7])}</b>")
    assert label_trace.textfont.color[index] == figures.ACCENT_COLOR


def test_trajectory_end_labels_never_overlap():
    epochs, trajectory = random_trajectory(80, 60, dim=1, seed=2)
    labels, names, *_ = example_inputs(60, dim=1)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names)

    label_trace = fig.data[-1]
    assert label_trace.xaxis == "x2"
    final = {figures._label_markup(label): trajectory[-1, k, 0] for k, label in enumerate(labels)}
    for text, y in zip(label_trace.text, label_trace.y, strict=True):
        assert y == final[text]
    # within a column labels are a label height apart, across columns a leader's clearance apart
    y_range = fig.layout.yaxis.range
    plot_height = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    y_px = (np.asarray(label_trace.y) - y_range[0]) * plot_height / (y_range[1] - y_range[0])
    x = np.asarray(label_trace.x)
    for i, j in itertools.combinations(range(len(x)), 2):
        gap = abs(y_px[i] - y_px[j])
        assert gap >= (figures._END_LABEL_HEIGHT_PX if x[i] == x[j] else figures._LEADER_CLEARANCE_PX) - 1e-6
    assert len(x) >= 10


def test_trajectory_end_dots_hover_every_line():
    epochs, trajectory = random_trajectory(40, 25, dim=1)
    labels, names, *_ = example_inputs(25, dim=1)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names)

    dots = next(trace for trace in fig.data if trace.mode == "markers")
    np.testing.assert_array_equal(dots.y, trajectory[-1, :, 0])
    assert list(dots.hovertext) == names
    assert "final embedding" in dots.hovertemplate


@pytest.mark.parametrize("dim", [2, 3])
def test_trajectory_plane_draws_paths_to_end_dots(dim):
    epochs, trajectory = random_trajectory(60, 30, dim=dim)
    labels, names, *_ = example_inputs(30, dim=dim)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names, highlight=4)

    paths = fig.data[0]
    assert np.count_nonzero(np.isnan(np.asarray(paths.y, dtype=np.float64))) == 30
    dots = next(trace for trace in fig.data if trace.mode == "markers")
    np.testing.assert_array_equal(dots.x, trajectory[-1, :, 0])
    np.testing.assert_array_equal(dots.y, trajectory[-1, :, 1])
    assert dots.marker.color[4] == figures.ACCENT_COLOR
    assert fig.layout.yaxis.scaleanchor == "x"
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert ("dimension 3 not shown" in notes) == (dim == 3)


def test_trajectory_caps_lines_and_notes_them():
    epochs, trajectory = random_trajectory(64, 1000, dim=1)
    labels, names, *_ = example_inputs(1000, dim=1)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names, highlight=900, max_lines=200)

    assert len(split_lines(fig.data[0])) == 201  # the first 200 and the highlight
    assert any(a.text.startswith("201 of 1,000 characters drawn") for a in fig.layout.annotations)


def test_trajectory_order_picks_the_lines():
    epochs, trajectory = random_trajectory(20, 50, dim=1)
    labels, names, *_ = example_inputs(50, dim=1)
    order = np.arange(50)[::-1]

    fig = figures.trajectory_figure(epochs, trajectory, labels, names, order=order, max_lines=5)

    lines = split_lines(fig.data[0])
    for line, char_id in zip(lines, [49, 48, 47, 46, 45], strict=True):
        np.testing.assert_allclose(line, trajectory[:, char_id, 0], rtol=1e-6)


def test_trajectory_downsamples_frames():
    epochs, trajectory = random_trajectory(512, 100, dim=1)
    labels, names, *_ = example_inputs(100, dim=1)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names, max_frames=120)

    lines = split_lines(fig.data[0])
    assert all(len(line) == len(lines[0]) for line in lines)
    assert 2 <= len(lines[0]) <= 120
    assert len(lines[0]) * len(lines) * 6 <= figures.MAX_TRAJECTORY_BYTES
    np.testing.assert_allclose(lines[0][[0, -1]], trajectory[[0, -1], 0, 0], rtol=1e-6)  # first and last kept
    x = np.asarray(fig.data[0].x)
    assert x.dtype.kind in "iu"  # epochs stay integers, which Plotly sends in 2 bytes each


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("vocab_size", [100, 1000])
def test_trajectory_json_size(dim, vocab_size):
    epochs, trajectory = random_trajectory(512, vocab_size, dim=dim)
    labels, names, *_ = example_inputs(vocab_size, dim=dim)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names, highlight=3)

    assert json_size(fig) < 100_000


def test_trajectory_labels_are_escaped():
    epochs, trajectory = random_trajectory(10, len(MARKUP_LABELS), dim=1)

    for dim in (1, 2):
        fig = figures.trajectory_figure(
            epochs, np.repeat(trajectory, dim, axis=2), MARKUP_LABELS, MARKUP_NAMES, highlight=0
        )
        strings = all_strings(json.loads(fig.to_json()))
        for tag in FORBIDDEN_TAGS:
            assert not [s for s in strings if tag in s], (dim, tag)
        assert not [s for s in strings if "$y$" in s]
        assert any("&lt;a href=" in s for s in strings)


def test_trajectory_rejects_bad_input():
    epochs, trajectory = random_trajectory(10, 5, dim=1)
    labels, names, *_ = example_inputs(5, dim=1)

    with pytest.raises(ValueError, match="shape"):
        figures.trajectory_figure(epochs, trajectory[:, :, 0], labels, names)
    with pytest.raises(ValueError, match="epochs must have shape"):
        figures.trajectory_figure(epochs[:-1], trajectory, labels, names)
    with pytest.raises(ValueError, match="names has 4 entries"):
        figures.trajectory_figure(epochs, trajectory, labels, names[:-1])
    with pytest.raises(ValueError, match="highlight id 5"):
        figures.trajectory_figure(epochs, trajectory, labels, names, highlight=5)
    with pytest.raises(ValueError, match="order"):
        figures.trajectory_figure(epochs, trajectory, labels, names, order=np.array([0, 0, 1, 2, 3]))
    with pytest.raises(ValueError, match="max_lines"):
        figures.trajectory_figure(epochs, trajectory, labels, names, max_lines=0)
    trajectory[3, 2, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        figures.trajectory_figure(epochs, trajectory, labels, names)


def test_trajectory_of_one_frame():
    epochs, trajectory = random_trajectory(1, 5, dim=1)
    labels, names, *_ = example_inputs(5, dim=1)

    fig = figures.trajectory_figure(epochs, trajectory, labels, names)

    low, high = fig.layout.xaxis.range
    assert low < epochs[0] < high


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


def test_figures_pass_plotly_validation():
    """Figures are built with validation off for speed; Plotly's full validation must accept them."""
    rng = np.random.default_rng(0)
    labels = [chr(c) for c in range(33, 33 + 60)]
    names = [f"U+{ord(c):04X}" for c in labels]
    counts = rng.integers(1, 50, size=60)
    built = [
        figures.loss_figure(
            curve(300, "this run"),
            [curve(200, "run 1")],
            REFERENCES,
            300,
            heldout=curve(300, "held-out text"),
        ),
        figures.prediction_figure(labels[:5], rng.random(5), rng.random(5), "a"),
        figures.empty_figure("nothing yet"),
    ]
    for dim in (1, 2, 3):
        embedding = rng.normal(size=(60, dim)).astype(np.float32)
        output = rng.normal(size=(60, dim)).astype(np.float32)
        points = figures.band_points(embedding)
        logits = points @ output.T
        band = (points, logits.argmax(axis=1), np.full(len(points), 0.5, dtype=np.float32))
        built.append(figures.embedding_figure(labels, names, embedding, counts, highlight=3, band=band))
        trajectory = np.cumsum(rng.normal(size=(40, 60, dim)), axis=0).astype(np.float32)
        built.append(figures.trajectory_figure(np.arange(40), trajectory, labels, names, highlight=2))

    for fig in built:
        go.Figure(json.loads(fig.to_json()))  # raises ValueError on any invalid property

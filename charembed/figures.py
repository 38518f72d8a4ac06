"""Plotly figures: loss curve, embedding plot, prediction bars.

Every figure is built to be streamed through gr.Plot, which re-sends the whole figure on each
update. So arrays are numpy (serialised as base64 binary, float32 where that represents the
values exactly) and `template="none"` leaves out Plotly's default template, about 7 KB of JSON
with plotly 7.1.

The figures must read on a light and on a dark page, so backgrounds are transparent and text,
lines and points use mid-luminance colours with at least 3:1 contrast against white and against
near-black (#0b0f19).

Plotly renders a subset of HTML in text, hover text, tick labels and titles (<b>, <br>, <a href>,
entities) and typesets $...$ when MathJax is loaded. WebGL labels of 3-D plots read <b>, <i>,
<sub>, <sup> and <br> but no entities. Text from the user's text passes through `_escape` or
`_escape_webgl`, so it is shown literally.
"""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import plotly.graph_objects as go

FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
MONO_FAMILY = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace"  # character labels

# Contrast against white / against #0b0f19 is given beside each colour.
TEXT_COLOR = "#727a89"  # 4.3:1 / 4.4:1
GRID_COLOR = "rgba(128, 128, 128, 0.22)"
LINE_COLOR = "rgba(128, 128, 128, 0.65)"  # axis lines, ticks, leader lines
CURRENT_COLOR = "#3b82f6"  # 3.7:1 / 5.2:1, the current run and the characters' points
PREVIOUS_COLOR = "#8b93a1"  # 3.1:1 / 6.2:1, earlier runs (faded further) and real frequencies
UNSEEN_COLOR = "rgba(128, 128, 128, 0.55)"
ACCENT_COLOR = "#e11d48"  # 4.7:1 / 4.1:1, the queried character, with white text at 4.7:1 on it
REFERENCE_COLORS = ("#b45309", "#15803d", "#8b5cf6", "#0e7490")  # 3.5:1 or more on both
HOVER_STYLE = {"bgcolor": "#1f2937", "bordercolor": "#4b5563", "font": {"color": "#f9fafb", "size": 14}}

LABEL_FONT_SIZE = 15  # px, character labels on the embedding plot
HIGHLIGHT_FONT_SIZE = 18  # px, the queried character's boxed label
ROW_PITCH_PX = 21  # vertical distance between label rows on the 1-D axis
LABEL_GAP_PX = 6  # free space kept between two labels
# Fonts such as DejaVu Sans Mono draw the stand-ins ␣ (Control Pictures) and ⏎ (Miscellaneous
# Technical) much smaller than a letter, so labels with characters from these blocks are drawn
# this much larger.
SMALL_GLYPH_BLOCKS = ((0x2300, 0x23FF), (0x2400, 0x243F))
SMALL_GLYPH_SCALE = 1.5


# ---------------------------------------------------------------------------------------------
# shared helpers


def _escape(text: str) -> str:
    """Escape the characters Plotly's SVG text reads as markup, so `text` is displayed as written.

    >>> _escape('<b>"$5 & $6"</b>')
    '&lt;b&gt;"&#36;5 &amp; &#36;6"&lt;/b&gt;'
    """
    # subtle: "&" first, or the entities made below would be escaped again.
    # Plotly decodes &amp; &lt; &gt; and numeric entities but not &quot;, so quotes stay raw.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("$", "&#36;")


def _escape_webgl(text: str) -> str:
    """Escape text for the WebGL labels of 3-D plots, which read tags but decode no entities.

    A zero-width word joiner (U+2060) after every "<" and "&" breaks tags and entities apart
    while leaving the text looking the same, in WebGL labels and in SVG hover boxes alike.
    """
    return text.replace("&", "&\u2060").replace("<", "<\u2060")


def _has_small_glyph(label: str) -> bool:
    return any(low <= ord(char) <= high for char in label for low, high in SMALL_GLYPH_BLOCKS)


def _label_markup(label: str) -> str:
    """Escape a character label for SVG text and enlarge the glyphs fonts draw small (␣, ⏎)."""
    escaped = _escape(label)
    if _has_small_glyph(label):
        return f'<span style="font-size:{SMALL_GLYPH_SCALE}em">{escaped}</span>'
    return escaped


def _base_layout(height: int, **overrides) -> dict:
    """Return a layout with the settings every figure shares (transparent, theme-neutral, no
    default template), updated with `overrides`."""
    layout = {
        "template": "none",
        "height": height,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT_FAMILY, "size": 14, "color": TEXT_COLOR},
        "margin": {"l": 64, "r": 24, "t": 40, "b": 52},
        "hoverlabel": HOVER_STYLE,
        "showlegend": False,
        "legend": {"orientation": "h", "x": 0, "y": 1.01, "yanchor": "bottom", "bgcolor": "rgba(0,0,0,0)"},
    }
    layout.update(overrides)
    return layout


def _axis(title: str = "", **overrides) -> dict:
    """Return the settings of a cartesian axis with a mid-grey line, ticks and grid."""
    axis = {
        "title": {"text": title, "standoff": 10},
        "showline": True,
        "linecolor": LINE_COLOR,
        "ticks": "outside",
        "tickcolor": LINE_COLOR,
        "showgrid": True,
        "gridcolor": GRID_COLOR,
        "zeroline": False,
        "automargin": True,
    }
    axis.update(overrides)
    return axis


def _finite_bounds(values: np.ndarray) -> tuple[float, float]:
    """Return the min and max of the finite values, (0, 1) if there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


# ---------------------------------------------------------------------------------------------
# loss curve


@dataclass(frozen=True)
class Curve:
    """One run's loss history, already downsampled."""

    epochs: np.ndarray  # (n,) int
    losses: np.ndarray  # (n,) float
    label: str  # legend name, e.g. "this run", "previous run"


def downsample(
    epochs: np.ndarray, losses: np.ndarray, max_points: int = 600
) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most max_points points, always the first and last, spread evenly over the epochs.

    Each kept point is the one nearest to one of `max_points` evenly spaced epoch values, so a
    history with gaps is thinned evenly in epochs, not in array positions. `epochs` must be
    ascending. A history of at most `max_points` points comes back unchanged. Raise ValueError if
    the arrays are not 1-D of one length or max_points < 2.

    >>> downsample(np.arange(10), np.arange(10.0), max_points=4)[0]
    array([0, 3, 6, 9])
    """
    epochs, losses = np.asarray(epochs), np.asarray(losses)
    if epochs.ndim != 1 or epochs.shape != losses.shape:
        raise ValueError(
            f"epochs and losses must be 1-D arrays of one length, got {epochs.shape} and {losses.shape}."
        )
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2 to keep the first and last point, got {max_points}.")
    if len(epochs) <= max_points:
        return epochs, losses

    # for each evenly spaced target, the index of the nearest epoch (np.unique drops repeats)
    targets = np.linspace(float(epochs[0]), float(epochs[-1]), max_points)
    right = np.clip(np.searchsorted(epochs, targets), 1, len(epochs) - 1)
    left = right - 1
    nearer_left = targets - epochs[left] <= epochs[right] - targets
    keep = np.unique(np.where(nearer_left, left, right))
    return epochs[keep], losses[keep]


def loss_figure(
    current: Curve | None,
    previous: list[Curve],
    references: dict[str, tuple[float, str]],  # label -> (value, one-line meaning shown on hover)
    total_epochs: int,  # x-axis range 0..total_epochs so the curve grows into a fixed frame
    *,
    max_previous: int = 5,
    height: int = 380,
) -> go.Figure:
    """Draw the loss per epoch: `current` strong, `previous` runs faded, `references` as dashed lines.

    Only the last `max_previous` previous runs are drawn, because older ones would only grow every
    streamed update. Each reference line is labelled with its value at the right edge and shows
    its meaning on hover. The x axis is fixed to 0..total_epochs, so parts of longer previous
    runs fall outside it. The y axis covers the references and the finite losses.

    Traces, in drawing order: one per drawn previous run (oldest first), one per reference, then
    the current run.
    """
    shown_previous = previous[-max_previous:] if max_previous > 0 else []
    x_max = max(int(total_epochs), 1)
    traces = []

    # the older a run, the fainter it is, and the newest previous run is drawn on top of the others
    for index, curve in enumerate(shown_previous):
        age = len(shown_previous) - 1 - index
        traces.append(_previous_trace(curve, opacity=max(0.2, 0.6 - 0.1 * age)))
    for index, (label, (value, meaning)) in enumerate(references.items()):
        color = REFERENCE_COLORS[index % len(REFERENCE_COLORS)]
        traces.append(_reference_trace(label, value, meaning, x_max, color))
    if current is not None:
        traces.append(_current_trace(current))

    curves = shown_previous if current is None else [*shown_previous, current]
    plot_height = max(height - 92, 100)  # height minus the top and bottom margins
    y_range = _loss_y_range(curves, references, plot_height)
    layout = _base_layout(
        height,
        showlegend=bool(curves),
        xaxis=_axis("epoch", range=[0, x_max], tickformat=",d"),
        yaxis=_axis("loss (nats)", range=y_range),
        hovermode="closest",
        annotations=_reference_labels(references, y_range, plot_height),
    )
    return go.Figure(traces, layout)


def _current_trace(curve: Curve) -> go.Scatter:
    """Build the current run's trace: a thick line with a dot on its newest point."""
    marker_sizes = np.zeros(len(curve.epochs), dtype=np.uint8)
    marker_sizes[-1:] = 10
    return go.Scatter(
        # int64 lets Plotly pick the smallest integer type that fits the epochs
        x=np.asarray(curve.epochs, dtype=np.int64),
        y=np.asarray(curve.losses, dtype=np.float32),
        name=_escape(curve.label),
        mode="lines+markers",
        line={"color": CURRENT_COLOR, "width": 3},
        marker={"color": CURRENT_COLOR, "size": marker_sizes, "opacity": 1},
        cliponaxis=False,
        hovertemplate="epoch %{x:,}<br>loss %{y:.4f}",
    )


def _previous_trace(curve: Curve, opacity: float) -> go.Scatter:
    """Build an earlier run's trace: a thin, faded grey line."""
    return go.Scatter(
        x=np.asarray(curve.epochs, dtype=np.int64),
        y=np.asarray(curve.losses, dtype=np.float32),
        name=_escape(curve.label),
        mode="lines",
        line={"color": PREVIOUS_COLOR, "width": 1.5},
        opacity=opacity,
        hovertemplate="epoch %{x:,}<br>loss %{y:.4f}",
    )


def _reference_trace(label: str, value: float, meaning: str, x_max: int, color: str) -> go.Scatter:
    """Build a dashed horizontal line at `value` that shows its meaning on hover anywhere along it."""
    # Plotly hovers on points, not on segments, so the line carries 65 of them.
    x = np.linspace(0, x_max, 65, dtype=np.float32)
    return go.Scatter(
        x=x,
        y=np.full_like(x, value),
        name=_escape(label),
        mode="lines",
        line={"color": color, "width": 2, "dash": "dash"},
        text=f"<b>{_escape(label)}</b> = {value:.4f}<br>{_escape(meaning)}",
        hoverinfo="text",
        showlegend=False,
    )


def _loss_y_range(
    curves: list[Curve], references: dict[str, tuple[float, str]], plot_height: int
) -> list[float]:
    """Return a y range covering the curves and references, with 24 px to spare at both ends
    for the reference labels."""
    values = [np.asarray([value for value, _ in references.values()], dtype=np.float64)]
    values += [np.asarray(curve.losses, dtype=np.float64) for curve in curves]
    low, high = _finite_bounds(np.concatenate(values))
    if high - low < 1e-6:
        low, high = low - 0.5, high + 0.5
    units_per_px = (high - low) / (plot_height - 48)
    return [low - 24 * units_per_px, high + 24 * units_per_px]


def _reference_labels(
    references: dict[str, tuple[float, str]], y_range: list[float], plot_height: int
) -> list[dict]:
    """Label each reference line at the right edge with its name and value, its meaning on hover.

    The lowest label sits below its line, because the curves approach the lowest reference from
    above. The others sit above their lines, pushed up where they would overlap the label below.
    """
    px_per_unit = plot_height / (y_range[1] - y_range[0])
    colors = {label: REFERENCE_COLORS[i % len(REFERENCE_COLORS)] for i, label in enumerate(references)}
    ordered = sorted(references.items(), key=lambda item: item[1][0])

    label_height_px = 19  # a 14 px line of text
    annotations = []
    top_px = -np.inf  # top edge of the label placed last, in px above the bottom of the range
    for rank, (label, (value, meaning)) in enumerate(ordered):
        line_px = (value - y_range[0]) * px_per_unit
        below = rank == 0
        shift = 0.0 if below else max(0.0, top_px - line_px)
        top_px = line_px if below else line_px + shift + label_height_px
        annotations.append(
            {
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "y": value,
                "yanchor": "top" if below else "bottom",
                "yshift": shift,
                "text": f"{_escape(label)}  {value:.3f}",
                "hovertext": _escape(meaning),
                "showarrow": False,
                "font": {"color": colors[label], "size": 14},
            }
        )
    return annotations


# ---------------------------------------------------------------------------------------------
# embedding plot


def embedding_figure(
    labels: list[str],  # visible stand-in per vocabulary entry (display_char), length V
    names: list[str],  # hover name per entry (describe_char or code point)
    embedding: np.ndarray,  # (V, d) with d in 1..3
    char_counts: np.ndarray,  # (V,) occurrences in the text, shown on hover
    highlight: int | None = None,  # id of the queried character, drawn prominently
    unseen: np.ndarray | None = None,  # (V,) bool: entries absent from the text, drawn greyed
    *,
    height: int | None = None,
    width_px: int = 800,
    legend_names: tuple[str, str] = ("in text", "not in text"),
) -> go.Figure:
    """Draw each vocabulary entry at its embedding: an axis for d = 1, a scatter for d = 2 and 3.

    Every point sits at its exact embedding value, as float32 like the model's weights. Hovering
    a point shows its label, name, embedding and count. `highlight` gets an accent ring and a
    boxed bold label. `unseen` entries are grey. When there are any, a legend names the two
    groups by `legend_names` (entries in the text, unseen entries).

    For d = 1 and 2, labels that would overlap move to free places: staggered rows above and
    below the axis (d = 1, joined to their point by a thin leader line) or around the point
    (d = 2). Unseen entries' labels take only what room is left, and on the axis only the rows
    next to it. A label with no free place is left out, a corner note counts those, and its
    point stays hoverable. Free space is computed for a plot area of about `width_px`, so on a
    much narrower plot labels can overlap. The default `height` depends on d.

    Raise ValueError for inputs of inconsistent length, d outside 1..3, non-finite embeddings, or
    an out-of-range `highlight`.
    """
    embedding = np.asarray(embedding, dtype=np.float32)
    vocab_size = _validate_embedding_inputs(labels, names, embedding, char_counts, highlight, unseen)
    points = _Points(
        labels=list(labels),
        names=[_escape(name) for name in names],
        embedding=embedding,
        counts=np.asarray(char_counts, dtype=np.int64),
        seen=np.ones(vocab_size, dtype=bool) if unseen is None else ~np.asarray(unseen, dtype=bool),
        highlight=highlight,
        legend_names=(_escape(legend_names[0]), _escape(legend_names[1])),
    )

    dim = embedding.shape[1]
    if dim == 1:
        return _axis_figure(points, height or 400, width_px)
    if dim == 2:
        return _plane_figure(points, height or 600, width_px)
    return _space_figure(points, height or 620)


@dataclass(frozen=True)
class _Points:
    """The embedding plot's inputs, one entry per vocabulary id."""

    labels: list[str]  # (V,) stand-ins as given, escaped only where drawn
    names: list[str]  # (V,) escaped hover names
    embedding: np.ndarray  # (V, d) float32
    counts: np.ndarray  # (V,) int64
    seen: np.ndarray  # (V,) bool
    highlight: int | None
    legend_names: tuple[str, str]  # escaped legend names of seen and unseen entries

    @cached_property
    def markup(self) -> np.ndarray:
        """(V,) object: labels escaped for SVG text."""
        return np.array([_label_markup(label) for label in self.labels], dtype=object)

    def placement_order(self, sort_key: np.ndarray) -> list[int]:
        """Return the ids in the order their labels claim space: seen entries, then unseen ones,
        each ascending by `sort_key`, without the highlight (placed before all of them)."""
        order = np.lexsort((sort_key, ~self.seen))
        return [int(i) for i in order if i != self.highlight]


def _validate_embedding_inputs(labels, names, embedding, char_counts, highlight, unseen) -> int:
    """Return V after checking that every input describes the same V entries."""
    if embedding.ndim != 2 or not 1 <= embedding.shape[1] <= 3:
        raise ValueError(f"embedding must have shape (V, d) with d in 1..3, got {embedding.shape}.")
    vocab_size = embedding.shape[0]
    lengths = {"labels": len(labels), "names": len(names), "char_counts": len(char_counts)}
    if unseen is not None:
        lengths["unseen"] = len(unseen)
    for argument, length in lengths.items():
        if length != vocab_size:
            raise ValueError(f"{argument} has {length} entries but embedding has {vocab_size} rows.")
    if not np.isfinite(embedding).all():
        raise ValueError("embedding contains NaN or infinite values. Pass the last finite weights instead.")
    if highlight is not None and not 0 <= highlight < vocab_size:
        raise ValueError(f"highlight id {highlight} is out of range 0..{vocab_size - 1}.")
    return vocab_size


def _label_font_size(label: str) -> float:
    """Return the font size in px that makes `label` read as large as a letter."""
    return LABEL_FONT_SIZE * (SMALL_GLYPH_SCALE if _has_small_glyph(label) else 1)


def _label_width_px(label: str, font_size: float = LABEL_FONT_SIZE) -> float:
    """Estimate the width of `label` in a monospace font: 0.6 em per character, 1 em for wide ones."""
    ems = sum(1.0 if unicodedata.east_asian_width(char) in "WF" else 0.6 for char in label)
    if _has_small_glyph(label):
        ems *= SMALL_GLYPH_SCALE
    return ems * font_size


def _point_traces(points: _Points, coordinates: list[np.ndarray]) -> list:
    """Build the hoverable points: one trace for entries in the text and, if any, one for unseen ones.

    `coordinates` contains (V,) arrays for x and y, or x, y and z for Scatter3d traces that also
    draw each label above its point.
    """
    dim = points.embedding.shape[1]
    position = {1: "%{x:.4f}", 2: "(%{x:.3f}, %{y:.3f})", 3: "(%{x:.3f}, %{y:.3f}, %{z:.3f})"}[dim]
    hovertemplate = f"<b>%{{text}}</b>  %{{hovertext}}<br>embedding {position}<br>count %{{customdata:,}}"
    # the WebGL text of Scatter3d needs its own escaping, which hover boxes display faithfully too
    texts = points.markup if dim < 3 else np.array([_escape_webgl(label) for label in points.labels])
    names = np.array(points.names, dtype=object)

    traces = []
    for group, name, color in (
        (points.seen, points.legend_names[0], CURRENT_COLOR),
        (~points.seen, points.legend_names[1], UNSEEN_COLOR),
    ):
        if not group.any():
            continue
        common = {
            "name": name,
            "text": texts[group],
            "hovertext": names[group],
            "customdata": points.counts[group],
            "hovertemplate": hovertemplate + "<extra></extra>",
            "showlegend": not points.seen.all(),
        }
        if dim < 3:
            x, y = (axis[group] for axis in coordinates)
            traces.append(go.Scatter(x=x, y=y, mode="markers", marker={"color": color, "size": 8}, **common))
            continue
        x, y, z = (axis[group] for axis in coordinates)
        traces.append(
            go.Scatter3d(
                x=x,
                y=y,
                z=z,
                mode="markers+text",
                marker={"color": color, "size": 4},
                textposition="top center",
                textfont={
                    "family": MONO_FAMILY,
                    "size": _webgl_font_sizes(points, group),
                    "color": TEXT_COLOR,
                },
                **common,
            )
        )
    return traces


def _webgl_font_sizes(points: _Points, group: np.ndarray) -> float | np.ndarray:
    """Return the label font size for the entries in `group`, per entry if some need enlarging.

    WebGL text reads no <span>, so glyphs that fonts draw small get a larger size of their own.
    """
    sizes = np.array([_label_font_size(label) for label in points.labels], dtype=np.uint8)[group]
    return sizes if (sizes != LABEL_FONT_SIZE).any() else LABEL_FONT_SIZE


def _highlight_ring(points: _Points, coordinates: list[np.ndarray]) -> go.Scatter | go.Scatter3d:
    """Build an open accent circle around the highlighted point."""
    at = [axis[points.highlight : points.highlight + 1] for axis in coordinates]
    if len(at) == 3:
        marker = {"symbol": "circle-open", "size": 14, "color": ACCENT_COLOR, "line": {"width": 4}}
        return go.Scatter3d(
            x=at[0], y=at[1], z=at[2], mode="markers", marker=marker, hoverinfo="skip", showlegend=False
        )
    marker = {"symbol": "circle-open", "size": 22, "color": ACCENT_COLOR, "line": {"width": 3}}
    return go.Scatter(x=at[0], y=at[1], mode="markers", marker=marker, hoverinfo="skip", showlegend=False)


def _highlight_label(points: _Points) -> dict:
    """Return the style of the highlighted entry's boxed label. The caller adds its position."""
    return {
        "text": f"<b>{_label_markup(points.labels[points.highlight])}</b>",
        "font": {"family": MONO_FAMILY, "size": HIGHLIGHT_FONT_SIZE, "color": "#ffffff"},
        "bgcolor": ACCENT_COLOR,
        "bordercolor": ACCENT_COLOR,
        "borderpad": 3,
        "arrowcolor": ACCENT_COLOR,
        "arrowwidth": 2,
        "arrowhead": 0,
        "hovertext": points.names[points.highlight],
    }


def _highlight_size_px(points: _Points) -> tuple[float, float]:
    """Return the width and height in px of the highlighted entry's boxed label."""
    label = points.labels[points.highlight]
    return _label_width_px(label, HIGHLIGHT_FONT_SIZE) + 10, HIGHLIGHT_FONT_SIZE * 1.3 + 8


def _left_out_note(count: int) -> list[dict]:
    """Return a corner note (a list of one annotation) counting the labels that found no free
    place, or an empty list if all found one."""
    if count == 0:
        return []
    note = {
        "xref": "paper",
        "yref": "paper",
        "x": 1,
        "y": 1.01,
        "xanchor": "right",
        "yanchor": "bottom",
        "text": f"{count} labels left out for lack of room: hover the points",
        "showarrow": False,
        "font": {"size": 12},
    }
    return [note]


# d = 1: the axis


def _assign_rows(
    centers: np.ndarray,
    widths: np.ndarray,
    order: list[int],
    max_levels: np.ndarray,
    reserved: list[tuple[int, float, float]] = (),
) -> np.ndarray:
    """Give each label a row (+1 just above the axis, -1 just below, +2 above +1, ...) where its
    interval centers[i] +- widths[i] / 2 overlaps no label placed in that row before it.

    Labels are placed one by one in `order`, each in the first free row of +1, -1, +2, -2, ...
    up to row +-max_levels[i], so close neighbours alternate above and below. `reserved` lists
    (row, left, right) intervals taken before any label. Return (V,) int8 rows, 0 for a label
    that found no free row or is not in `order`. Units are those of `centers`.

    >>> _assign_rows(np.array([0.0, 0.5, 3.0]), np.ones(3), [0, 1, 2], np.full(3, 2)).tolist()
    [1, -1, 1]
    """
    levels = int(max_levels.max(initial=0))
    candidates = [side * level for level in range(1, levels + 1) for side in (1, -1)]
    # per row, the placed intervals sorted by left edge, and since they never overlap, by right edge too
    lefts: dict[int, list[float]] = {row: [] for row in candidates}
    rights: dict[int, list[float]] = {row: [] for row in candidates}

    def claim(row: int, left: float, right: float) -> bool:
        k = bisect.bisect_left(lefts[row], left)
        if k > 0 and rights[row][k - 1] > left:
            return False
        if k < len(lefts[row]) and lefts[row][k] < right:
            return False
        lefts[row].insert(k, left)
        rights[row].insert(k, right)
        return True

    for row, left, right in reserved:
        if row in lefts:
            claim(row, left, right)

    rows = np.zeros(len(centers), dtype=np.int8)
    for i in order:
        left, right = centers[i] - widths[i] / 2, centers[i] + widths[i] / 2
        for row in candidates[: 2 * max_levels[i]]:
            if claim(row, left, right):
                rows[i] = row
                break
    return rows


def _axis_figure(points: _Points, height: int, width_px: int) -> go.Figure:
    """d = 1: points on a horizontal line, labels in staggered rows above and below it."""
    x = points.embedding[:, 0]  # (V,)
    low, high = _finite_bounds(x)
    pad = 0.03 * (high - low) if high > low else 1.0
    low, high = low - pad, high + pad
    margin = {"l": 40, "r": 40, "t": 44, "b": 56}
    units_per_px = (high - low) / (width_px - margin["l"] - margin["r"])

    # one y unit is half a row pitch, so every label edge and leader length is a small integer:
    # row r (r > 0) spans y = 2r - 1 .. 2r + 1, row -r mirrors it below the axis at y = 0
    plot_height = height - margin["t"] - margin["b"]
    # at most 30 rows a side, which keeps the int8 y coordinates below in range
    rows_per_side = min(max(1, int((plot_height / ROW_PITCH_PX - 1) / 2)), 30)
    widths = np.array([_label_width_px(label) + LABEL_GAP_PX for label in points.labels]) * units_per_px
    max_levels = np.where(points.seen, rows_per_side, 1)  # unseen labels only next to the axis
    reserved = []
    if points.highlight is not None:
        # the boxed label is centred a quarter row above row +1 and reaches into row +2
        half_width = _highlight_size_px(points)[0] * units_per_px / 2
        span = (x[points.highlight] - half_width, x[points.highlight] + half_width)
        reserved = [(1, *span), (2, *span)]
    rows = _assign_rows(x, widths, points.placement_order(x), max_levels, reserved)

    traces = []
    markup = points.markup
    for group, color in ((points.seen, TEXT_COLOR), (~points.seen, UNSEEN_COLOR)):
        for side in (1, -1):
            mask = group & (rows * side > 0)
            if mask.any():
                traces.append(_row_labels(markup[mask], x[mask], rows[mask], side, color))
    coordinates = [x, np.zeros(len(x), dtype=np.int8)]
    traces += _point_traces(points, coordinates)

    annotations = []
    if points.highlight is not None:
        traces.append(_highlight_ring(points, coordinates))
        x_highlight = float(x[points.highlight])
        position = {"x": x_highlight, "y": 0, "ax": x_highlight, "ay": 2.5, "axref": "x", "ayref": "y"}
        annotations.append(position | {"standoff": 11} | _highlight_label(points))
    annotations += _left_out_note(np.count_nonzero(rows == 0) - (points.highlight is not None))

    y_max = 2 * rows_per_side + 1.2
    embedding_axis = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0}
    layout = _base_layout(
        height,
        margin=margin,
        showlegend=not points.seen.all(),
        annotations=annotations,
        xaxis=_axis("embedding value", range=[low, high], zeroline=True, zerolinecolor=LINE_COLOR),
        yaxis={"range": [-y_max, y_max], "visible": False, "fixedrange": True},
        shapes=[embedding_axis | {"line": {"color": LINE_COLOR}}],
    )
    return go.Figure(traces, layout)


def _row_labels(markup: np.ndarray, x: np.ndarray, rows: np.ndarray, side: int, color: str) -> go.Scatter:
    """Build the labels in rows on one side (+1 above, -1 below) of the axis, with leader lines
    beyond row 1.

    Each label hangs off an anchor at its edge nearest the axis. The anchor's error bar reaches
    back to y = 0 and is the leader line: one small array per trace instead of a segment per label.
    """
    anchor = (2 * rows.astype(np.int8) - side).astype(np.int8)  # (n,) label edge nearest the axis
    leader = np.where(np.abs(rows) > 1, np.abs(anchor), 0).astype(np.int8)  # (n,) leader length
    # Plotly reads a missing side of an asymmetric error bar as 0
    error_y = {
        "visible": True,
        "type": "data",
        "symmetric": False,
        "arrayminus" if side > 0 else "array": leader,
    }
    return go.Scatter(
        x=x,
        y=anchor,
        mode="text",
        text=markup,
        textposition="top center" if side > 0 else "bottom center",
        textfont={"family": MONO_FAMILY, "size": LABEL_FONT_SIZE, "color": color},
        error_y=error_y | {"color": LINE_COLOR, "thickness": 0.8, "width": 0},
        cliponaxis=False,
        hoverinfo="skip",
        showlegend=False,
    )


# d = 2: the plane

# where a label may go around its point, in order of preference: above, right, below, left, diagonals
_LABEL_DIRECTIONS = np.array([(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, -1), (-1, 1)])


def _place_labels(
    xy: np.ndarray, sizes: np.ndarray, offset: float, order: list[int], obstacles: np.ndarray
) -> np.ndarray:
    """Put each label around its point, in the first of `_LABEL_DIRECTIONS` where its box
    overlaps no obstacle and no label placed earlier.

    xy (V, 2) points, sizes (V, 2) label width and height, `offset` the gap between a point and
    its label's box, obstacles (m, 4) boxes as x0, y0, x1, y1, all in data units. Labels are
    placed in `order`. Return (V, 2) label centres, NaN for a label with no free place.

    NOTE: this costs about 0.1 ms per label (0.1-0.18 s at V = 1000 on a 2-vCPU machine), so a
    live 2-D plot of a large vocabulary should be redrawn less often than the loss curve.
    """
    taken = np.empty((len(obstacles) + len(order), 4))  # (m + n, 4) boxes placed so far
    taken[: len(obstacles)] = obstacles
    count = len(obstacles)
    centers = np.full((len(xy), 2), np.nan)
    for i in order:
        half = sizes[i] / 2  # (2,)
        candidates = xy[i] + _LABEL_DIRECTIONS * (offset + half)  # (8, 2) centres
        boxes = np.hstack([candidates - half, candidates + half])  # (8, 4)

        # only boxes reaching into the square around the point can overlap a candidate
        placed = taken[:count]
        reach = offset + 2 * half
        near = placed[((placed[:, :2] < xy[i] + reach) & (placed[:, 2:] > xy[i] - reach)).all(axis=1)]
        overlaps = (near[None, :, :2] < boxes[:, None, 2:]) & (
            near[None, :, 2:] > boxes[:, None, :2]
        )  # (8, k, 2)
        free = ~overlaps.all(axis=2).any(axis=1)  # (8,)
        if free.any():
            first = int(np.argmax(free))
            taken[count] = boxes[first]
            count += 1
            centers[i] = candidates[first]
    return centers


def _plane_figure(points: _Points, height: int, width_px: int) -> go.Figure:
    """d = 2: a scatter with one scale on both axes, labels around the points where they fit."""
    xy = points.embedding  # (V, 2)
    margin = {"l": 64, "r": 24, "t": 44, "b": 56}
    plot_size = np.array([width_px - margin["l"] - margin["r"], height - margin["t"] - margin["b"]])
    x_range, y_range, units_per_px = _equal_scale_ranges(xy, plot_size)

    # every point's marker is an obstacle, so no label covers another point
    radius = 5 * units_per_px
    obstacles = np.hstack([xy - radius, xy + radius])  # (V, 4)
    sizes = (
        np.array([(_label_width_px(label), LABEL_FONT_SIZE * 1.15) for label in points.labels]) * units_per_px
    )

    annotations = []
    if points.highlight is not None:
        box, annotation = _plane_highlight(points, units_per_px, obstacles)
        obstacles = np.vstack([obstacles, box])
        annotations.append(annotation)
    centers = _place_labels(
        xy, sizes, radius + 2 * units_per_px, points.placement_order(-points.counts), obstacles
    )
    placed = ~np.isnan(centers[:, 0])

    traces = []
    markup = points.markup
    for group, color in ((points.seen, TEXT_COLOR), (~points.seen, UNSEEN_COLOR)):
        mask = group & placed
        if mask.any():
            traces.append(_plane_labels(markup[mask], centers[mask].astype(np.float32), color))
    coordinates = [xy[:, 0], xy[:, 1]]
    traces += _point_traces(points, coordinates)
    if points.highlight is not None:
        traces.append(_highlight_ring(points, coordinates))
    annotations += _left_out_note(len(xy) - np.count_nonzero(placed) - (points.highlight is not None))

    zero_line = {"zeroline": True, "zerolinecolor": LINE_COLOR}
    layout = _base_layout(
        height,
        margin=margin,
        showlegend=not points.seen.all(),
        annotations=annotations,
        xaxis=_axis("embedding dimension 1", range=x_range, **zero_line),
        yaxis=_axis("embedding dimension 2", range=y_range, scaleanchor="x", **zero_line),
    )
    return go.Figure(traces, layout)


def _plane_highlight(points: _Points, units_per_px: float, obstacles: np.ndarray) -> tuple[np.ndarray, dict]:
    """Place the highlighted entry's boxed label before all others, a little away from its point
    so the arrow between them shows. Return the box (x0, y0, x1, y1) and its annotation."""
    size = np.array(_highlight_size_px(points)) * units_per_px
    sizes = np.zeros((len(points.labels), 2))
    sizes[points.highlight] = size
    xy = points.embedding.astype(np.float64)
    center = _place_labels(xy, sizes, 16 * units_per_px, [points.highlight], obstacles)[points.highlight]
    if np.isnan(center).any():  # no free place around the point, so the box goes above it anyway
        center = xy[points.highlight] + np.array([0, 16 * units_per_px + size[1] / 2])

    x_point, y_point = xy[points.highlight]
    position = {"x": x_point, "y": y_point, "ax": center[0], "ay": center[1], "axref": "x", "ayref": "y"}
    box = np.hstack([center - size / 2, center + size / 2])
    return box, position | {"standoff": 11} | _highlight_label(points)


def _equal_scale_ranges(xy: np.ndarray, plot_size: np.ndarray) -> tuple[list[float], list[float], float]:
    """Return x and y ranges around the points with one scale on both axes, for a plot area of
    plot_size (width, height) px, and that scale in data units per px."""
    low = xy.min(axis=0).astype(np.float64)
    high = xy.max(axis=0).astype(np.float64)
    spans = (high - low) * 1.1 + 0.3  # room for labels at the edges
    units_per_px = float(np.max(spans / plot_size))
    middle = (low + high) / 2
    half = plot_size * units_per_px / 2
    return (
        [middle[0] - half[0], middle[0] + half[0]],
        [middle[1] - half[1], middle[1] + half[1]],
        units_per_px,
    )


def _plane_labels(markup: np.ndarray, centers: np.ndarray, color: str) -> go.Scatter:
    """Build the labels, centred on the places `_place_labels` found."""
    return go.Scatter(
        x=centers[:, 0],
        y=centers[:, 1],
        mode="text",
        text=markup,
        textposition="middle center",
        textfont={"family": MONO_FAMILY, "size": LABEL_FONT_SIZE, "color": color},
        hoverinfo="skip",
        showlegend=False,
    )


# d = 3: the space


def _space_figure(points: _Points, height: int) -> go.Figure:
    """d = 3: a rotatable Scatter3d with a label above each point."""
    coordinates = [points.embedding[:, i] for i in range(3)]
    traces = _point_traces(points, coordinates)

    annotations = []
    if points.highlight is not None:
        traces.append(_highlight_ring(points, coordinates))
        x, y, z = (float(axis[points.highlight]) for axis in coordinates)
        annotations.append({"x": x, "y": y, "z": z, "ax": 0, "ay": -44} | _highlight_label(points))

    axis = {
        "showbackground": False,
        "gridcolor": "rgba(128, 128, 128, 0.35)",  # thin WebGL lines need more than GRID_COLOR
        "zerolinecolor": LINE_COLOR,
        "linecolor": LINE_COLOR,
        "color": TEXT_COLOR,
    }
    scene = {
        "xaxis": axis | {"title": {"text": "dim 1"}},
        "yaxis": axis | {"title": {"text": "dim 2"}},
        "zaxis": axis | {"title": {"text": "dim 3"}},
        "aspectmode": "cube",
        "bgcolor": "rgba(0,0,0,0)",
        "camera": {"eye": {"x": 1.6, "y": 1.6, "z": 1.0}},
        "annotations": annotations,
    }
    margin = {"l": 0, "r": 0, "t": 36, "b": 0}
    layout = _base_layout(height, margin=margin, showlegend=not points.seen.all(), scene=scene)
    return go.Figure(traces, layout)


# ---------------------------------------------------------------------------------------------
# prediction bars and placeholder


def prediction_figure(
    labels: list[str],  # visible stand-ins of the characters shown, length k
    predicted: np.ndarray,  # (k,) model probabilities
    actual: np.ndarray,  # (k,) real next-character frequencies in the text (fractions)
    query_label: str,  # the queried character's stand-in, for the title
    *,
    height: int | None = None,
) -> go.Figure:
    """Draw pairs of horizontal bars, the model's probability beside the text's frequency, with
    the first label on top.

    Bars are labelled in whole percent, and hover shows percent to one decimal. The default
    height grows with k. Raise ValueError if the three inputs differ in length.
    """
    predicted = np.asarray(predicted, dtype=np.float32)
    actual = np.asarray(actual, dtype=np.float32)
    if not len(labels) == len(predicted) == len(actual):
        raise ValueError(
            "labels, predicted and actual must have one length, "
            f"got {len(labels)}, {len(predicted)} and {len(actual)}."
        )

    categories = [_label_markup(label) for label in labels]
    traces = [
        _probability_bars(categories, predicted, "model", CURRENT_COLOR),
        _probability_bars(categories, actual, "in the text", PREVIOUS_COLOR),
    ]

    largest = max(float(predicted.max(initial=0)), float(actual.max(initial=0)), 0.01)
    query = f'<b><span style="color:{ACCENT_COLOR}">{_label_markup(query_label)}</span></b>'
    title = {"text": f"Next character after {query}", "font": {"size": 18}, "x": 0, "xref": "paper"}
    layout = _base_layout(
        height or 110 + 44 * len(labels),
        margin={"l": 56, "r": 24, "t": 72, "b": 48},
        showlegend=True,
        title=title | {"y": 0.98, "yanchor": "top"},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
        barmode="group",
        bargap=0.28,
        bargroupgap=0.06,
        xaxis=_axis("probability", range=[0, largest * 1.18], tickformat=".0%"),
        yaxis=_axis(
            type="category",
            autorange="reversed",
            showgrid=False,
            ticks="",
            tickfont={"family": MONO_FAMILY, "size": 18},
        ),
    )
    return go.Figure(traces, layout)


def _probability_bars(categories: list[str], values: np.ndarray, name: str, color: str) -> go.Bar:
    return go.Bar(
        y=categories,
        x=values,
        name=name,
        orientation="h",
        marker={"color": color},
        texttemplate="%{x:.0%}",
        textposition="outside",
        textfont={"size": 13},
        cliponaxis=False,
        hovertemplate=f"%{{y}}: %{{x:.1%}}<extra>{name}</extra>",
    )


def empty_figure(message: str, *, height: int = 320) -> go.Figure:
    """Return a figure with hidden axes and `message` in its centre, e.g. "Train a model to see
    its embeddings". The message is shown literally, markup included."""
    message_annotation = {
        "text": _escape(message),
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
        "showarrow": False,
        "font": {"size": 16},
    }
    layout = _base_layout(
        height, xaxis={"visible": False}, yaxis={"visible": False}, annotations=[message_annotation]
    )
    return go.Figure(layout=layout)

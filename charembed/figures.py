"""Plotly figures: loss curve, embedding plot with its prediction band, trajectories, prediction bars.

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

# Plotly checks every property on construction, which costs about ten times the rest of a build;
# figures are rebuilt ten times a second during a run, so they skip it. The tests rebuild every
# figure with validation on, so a property Plotly would reject still fails there.
VALIDATE = False

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
DEFAULT_WIDTH_PX = 600  # the embedding plot's width in the app at a 1280 x 720 viewport

# Colours of the regions of embedding space that predict one character each, in the order regions
# get them. None is blue, rose or grey, the colours of the points, the queried character and
# unseen entries. Regions are translucent fills of the first shade. Chips (a label on a solid box)
# use the darker shade of the same hue, with white text at 4.9:1 or more.
REGION_FILL_COLORS = ("#f59e0b", "#14b8a6", "#a855f7", "#84cc16", "#f97316", "#d946ef", "#06b6d4", "#eab308")
REGION_CHIP_COLORS = ("#b45309", "#0f766e", "#7e22ce", "#4d7c0f", "#c2410c", "#a21caf", "#0e7490", "#a16207")
STRIP_HEIGHT_PX = 30  # the d = 1 band below the axis
STRIP_GAP_PX = 10  # between the lowest label row and the band

# legend names for the session's unseen entries: characters that never occur as the current
# character of the training span, so their embedding gets no gradient
UNTRAINED_LEGEND_NAMES = ("trained", "untrained")


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


def _escape_template(text: str) -> str:
    """Escape text for a hovertemplate, where "%{...}" would also be read as a placeholder."""
    return _escape(text).replace("%", "&#37;")


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
        "template": {},  # no template: Plotly's default adds about 7 KB to every update
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
    heldout: Curve | None = None,
) -> go.Figure:
    """Draw the loss per epoch: `current` strong, `previous` runs faded, `references` as dashed lines.

    Only the last `max_previous` previous runs are drawn, because older ones would only grow every
    streamed update. Each reference line is labelled with its value at the right edge and shows
    its meaning on hover. `heldout` is the current run's loss on held-out text, drawn dotted in
    the current run's colour and named in the legend by its label. The x axis is fixed to
    0..total_epochs, so parts of longer previous runs fall outside it. The y axis covers the
    references and the finite losses.

    Traces, in drawing order: one per drawn previous run (oldest first), one per reference, the
    held-out curve if given, then the current run.
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
    if heldout is not None:
        traces.extend(_heldout_trace(heldout))
    if current is not None:
        traces.extend(_current_trace(current))

    curves = [*shown_previous, *(curve for curve in (heldout, current) if curve is not None)]
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
    return go.Figure(traces, layout, _validate=VALIDATE)


def _current_trace(curve: Curve) -> list[go.Scatter]:
    """Build the current run's traces: a thick line and a dot on its newest point."""
    return _newest_point_trace(curve, {"color": CURRENT_COLOR, "width": 3}, dot_size=10)


def _heldout_trace(curve: Curve) -> list[go.Scatter]:
    """Build the held-out loss traces: a dotted line in the current run's colour, with a smaller
    dot on its newest point."""
    line = {"color": CURRENT_COLOR, "width": 2.5, "dash": "dot"}
    return _newest_point_trace(curve, line, dot_size=8, legendrank=1001)  # listed after the current run


def _newest_point_trace(curve: Curve, line: dict, dot_size: int, **extra) -> list[go.Scatter]:
    """Build a line trace of `curve` and a separate trace with a dot of `dot_size` px on its newest
    point. A marker on every point would cost the browser one SVG shape per point at every redraw."""
    epochs = np.asarray(curve.epochs, dtype=np.int64)  # int64 lets Plotly pick the smallest integer type
    losses = np.asarray(curve.losses, dtype=np.float32)
    hover = "epoch %{x:,}<br>loss %{y:.4f}"
    curve_line = go.Scatter(
        _validate=VALIDATE,
        x=epochs,
        y=losses,
        name=_escape(curve.label),
        mode="lines",
        line=line,
        hovertemplate=hover,
        **extra,
    )
    newest = go.Scatter(
        _validate=VALIDATE,
        x=epochs[-1:],
        y=losses[-1:],
        name=_escape(f"{curve.label}, newest epoch"),
        mode="markers",
        marker={"color": line["color"], "size": dot_size},
        cliponaxis=False,
        showlegend=False,
        hovertemplate=hover,
    )
    return [curve_line, newest]


def _previous_trace(curve: Curve, opacity: float) -> go.Scatter:
    """Build an earlier run's trace: a thin, faded grey line."""
    return go.Scatter(
        _validate=VALIDATE,
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
        _validate=VALIDATE,
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
    for rank, (label, (value, _meaning)) in enumerate(ordered):
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
                # no hovertext: it makes every redraw of the chart about 40 % slower in the browser,
                # and hovering the line itself already shows the meaning
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
    unseen: np.ndarray | None = None,  # (V,) bool: entries whose embedding gets no gradient, drawn greyed
    *,
    height: int | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
    legend_names: tuple[str, str] = ("in text", "not in text"),
    unseen_note: str | None = None,
    band: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> go.Figure:
    """Draw each vocabulary entry at its embedding: an axis for d = 1, a scatter for d = 2 and 3.

    Every point sits at its exact embedding value, as float32 like the model's weights. Hovering
    a point shows its label, name, embedding and count. `highlight` gets an accent ring and a
    boxed bold label. `unseen` entries are grey, and their hover adds `unseen_note`, by default
    "<legend_names[1]>: keeps its initial value". When there are any, a legend names the two
    groups by `legend_names` (seen entries, unseen entries). The caller picks the names for what
    it passes as unseen: the defaults suit entries absent from the text, UNTRAINED_LEGEND_NAMES
    suits entries absent from the training span.

    For d = 1 and 2, labels that would overlap move to free places: staggered rows above and
    below the axis (d = 1, joined to their point by a thin leader line) or around the point
    (d = 2). Unseen entries' labels take only what room is left, and on the axis only the rows
    next to it. A label with no free place is left out, a corner note counts those, and its
    point stays hoverable. Free space is computed for a figure about `width_px` wide, so on a
    much narrower plot labels can overlap. The default `height` depends on d.

    `band` = (points, predicted ids, probabilities) shows what a character at each place would
    predict, from `band_points` and `charembed.inference.prediction_map`. For d = 1, points are
    (n,) or (n, 1) positions on the axis, drawn as a coloured strip below it. For d = 2 they are
    (n, 2) points of a full grid, drawn as coloured regions behind the points. Each predicted
    character has its own colour, fainter where its probability is lower, and its label on the
    strip or region where there is room. The 3-D plot ignores `band`.

    Raise ValueError for inputs of inconsistent length, d outside 1..3, non-finite embeddings, an
    out-of-range `highlight`, or a `band` that `_validate_band` rejects.
    """
    embedding = np.asarray(embedding, dtype=np.float32)
    vocab_size = _validate_embedding_inputs(labels, names, embedding, char_counts, highlight, unseen)
    dim = embedding.shape[1]
    checked_band = _validate_band(band, dim, vocab_size) if band is not None and dim < 3 else None
    if unseen_note is None:
        unseen_note = f"{legend_names[1]}: keeps its initial value"
    points = _Points(
        labels=list(labels),
        names=[_escape(name) for name in names],
        embedding=embedding,
        counts=np.asarray(char_counts, dtype=np.int64),
        seen=np.ones(vocab_size, dtype=bool) if unseen is None else ~np.asarray(unseen, dtype=bool),
        highlight=highlight,
        legend_names=(_escape(legend_names[0]), _escape(legend_names[1])),
        unseen_note=_escape_template(unseen_note),
    )

    height = height or _DEFAULT_HEIGHTS[dim]
    if dim == 1:
        return _axis_figure(points, height, width_px, checked_band)
    if dim == 2:
        return _plane_figure(points, height, width_px, checked_band)
    return _space_figure(points, height)


_DEFAULT_HEIGHTS = {1: 400, 2: 600, 3: 620}  # px, by embedding dimension


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
    unseen_note: str  # escaped hover line of unseen entries

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
    for group, name, color, note in (
        (points.seen, points.legend_names[0], CURRENT_COLOR, ""),
        (~points.seen, points.legend_names[1], UNSEEN_COLOR, f"<br>{points.unseen_note}"),
    ):
        if not group.any():
            continue
        common = {
            "name": name,
            "text": texts[group],
            "hovertext": names[group],
            "customdata": points.counts[group],
            "hovertemplate": hovertemplate + note + "<extra></extra>",
            "showlegend": not points.seen.all(),
        }
        if dim < 3:
            x, y = (axis[group] for axis in coordinates)
            traces.append(
                go.Scatter(
                    _validate=VALIDATE, x=x, y=y, mode="markers", marker={"color": color, "size": 8}, **common
                )
            )
            continue
        x, y, z = (axis[group] for axis in coordinates)
        traces.append(
            go.Scatter3d(
                _validate=VALIDATE,
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
            _validate=VALIDATE,
            x=at[0],
            y=at[1],
            z=at[2],
            mode="markers",
            marker=marker,
            hoverinfo="skip",
            showlegend=False,
        )
    marker = {"symbol": "circle-open", "size": 22, "color": ACCENT_COLOR, "line": {"width": 3}}
    return go.Scatter(
        _validate=VALIDATE,
        x=at[0],
        y=at[1],
        mode="markers",
        marker=marker,
        hoverinfo="skip",
        showlegend=False,
    )


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
    # the axes' domain, which a plane with one scale on both axes may shrink on a wide page
    note = {
        "xref": "x domain",
        "yref": "y domain",
        "x": 1,
        "y": 1.01,
        "xanchor": "right",
        "yanchor": "bottom",
        "text": f"{count} labels left out: hover the points",
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


_AXIS_MARGIN = {"l": 40, "r": 40, "t": 44, "b": 56}


def _axis_range(x: np.ndarray) -> tuple[float, float]:
    """Return the x range of the axis: the values' span with 3 % to spare at each end."""
    low, high = _finite_bounds(x)
    pad = 0.03 * (high - low) if high > low else 1.0
    return low - pad, high + pad


def _axis_figure(points: _Points, height: int, width_px: int, band: _Band | None) -> go.Figure:
    """d = 1: points on a horizontal line, labels in staggered rows above and below it, and the
    band's strip at the bottom of the plot area."""
    x = points.embedding[:, 0]  # (V,)
    low, high = _axis_range(x)
    margin = _AXIS_MARGIN
    units_per_px = (high - low) / (width_px - margin["l"] - margin["r"])

    # one y unit is half a row pitch, so every label edge and leader length is a small integer:
    # row r (r > 0) spans y = 2r - 1 .. 2r + 1, row -r mirrors it below the axis at y = 0
    strip_px = STRIP_HEIGHT_PX + STRIP_GAP_PX if band is not None else 0
    plot_height = height - margin["t"] - margin["b"] - strip_px  # px of the label rows
    # at most 30 rows a side, which keeps the int8 y coordinates below in range
    rows_per_side = min(max(1, int((plot_height / ROW_PITCH_PX - 1) / 2)), 30)
    rows = _axis_rows(points, units_per_px, rows_per_side)

    # the strip takes strip_px below the rows, at the rows' scale
    y_max = 2 * rows_per_side + 1.2
    y_per_px = 2 * y_max / plot_height
    y_low = -y_max - strip_px * y_per_px
    traces, annotations = [], []
    if band is not None:
        strip = (y_low, y_low + STRIP_HEIGHT_PX * y_per_px)
        traces.append(_band_heatmap(band, points, alphas=(0.12, 0.9), y=np.array(strip, dtype=np.float32)))
        annotations += _strip_chips(band, points.labels, (low, high), units_per_px, sum(strip) / 2)

    markup = points.markup
    for group, color in ((points.seen, TEXT_COLOR), (~points.seen, UNSEEN_COLOR)):
        for side in (1, -1):
            mask = group & (rows * side > 0)
            if mask.any():
                traces.append(_row_labels(markup[mask], x[mask], rows[mask], side, color))
    coordinates = [x, np.zeros(len(x), dtype=np.int8)]
    traces += _point_traces(points, coordinates)

    if points.highlight is not None:
        traces.append(_highlight_ring(points, coordinates))
        x_highlight = float(x[points.highlight])
        position = {"x": x_highlight, "y": 0, "ax": x_highlight, "ay": 2.5, "axref": "x", "ayref": "y"}
        annotations.append(position | {"standoff": 11} | _highlight_label(points))
    annotations += _left_out_note(np.count_nonzero(rows == 0) - (points.highlight is not None))

    embedding_axis = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0}
    layout = _base_layout(
        height,
        margin=margin,
        showlegend=not points.seen.all(),
        annotations=annotations,
        xaxis=_axis("embedding value", range=[low, high], zeroline=True, zerolinecolor=LINE_COLOR),
        yaxis={"range": [y_low, y_max], "visible": False, "fixedrange": True},
        shapes=[embedding_axis | {"line": {"color": LINE_COLOR}}],
    )
    return go.Figure(traces, layout, _validate=VALIDATE)


def _axis_rows(points: _Points, units_per_px: float, rows_per_side: int) -> np.ndarray:
    """Return (V,) int8 label rows on the axis (see `_assign_rows`), keeping the highlighted
    entry's boxed label clear."""
    x = points.embedding[:, 0]
    widths = np.array([_label_width_px(label) + LABEL_GAP_PX for label in points.labels]) * units_per_px
    max_levels = np.where(points.seen, rows_per_side, 1)  # unseen labels only next to the axis
    reserved = []
    if points.highlight is not None:
        # the boxed label is centred a quarter row above row +1 and reaches into row +2
        half_width = _highlight_size_px(points)[0] * units_per_px / 2
        span = (x[points.highlight] - half_width, x[points.highlight] + half_width)
        reserved = [(1, *span), (2, *span)]
    return _assign_rows(x, widths, points.placement_order(x), max_levels, reserved)


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
        _validate=VALIDATE,
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


_PLANE_MARGIN = {"l": 64, "r": 24, "t": 44, "b": 56}


def _plane_ranges(xy: np.ndarray, height: int, width_px: int) -> tuple[list[float], list[float], float]:
    """Return the x and y ranges and the scale in data units per px of the plane figure."""
    margin = _PLANE_MARGIN
    plot_size = np.array([width_px - margin["l"] - margin["r"], height - margin["t"] - margin["b"]])
    return _equal_scale_ranges(xy, plot_size)


def _plane_figure(points: _Points, height: int, width_px: int, band: _Band | None) -> go.Figure:
    """d = 2: a scatter with one scale on both axes, labels around the points where they fit, and
    the band's regions behind them."""
    xy = points.embedding  # (V, 2)
    x_range, y_range, units_per_px = _plane_ranges(xy, height, width_px)

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
    if band is not None:
        traces.append(_band_heatmap(band, points, alphas=(0.05, 0.36)))
        label_boxes = np.hstack([centers[placed] - sizes[placed] / 2, centers[placed] + sizes[placed] / 2])
        annotations += _region_chips(band, points.labels, np.vstack([obstacles, label_boxes]), units_per_px)
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

    layout = _base_layout(
        height,
        margin=_PLANE_MARGIN,
        showlegend=not points.seen.all(),
        annotations=annotations,
        **_plane_axes(x_range, y_range),
    )
    return go.Figure(traces, layout, _validate=VALIDATE)


def _plane_axes(x_range: list[float], y_range: list[float]) -> dict:
    """Return the x and y axes of a plane with one scale on both.

    On a page of another aspect than the one the ranges were computed for, Plotly shrinks the
    plot area rather than widening a range, so the label layout and the band's grid still fit.
    """
    common = {"zeroline": True, "zerolinecolor": LINE_COLOR, "constrain": "domain"}
    return {
        "xaxis": _axis("embedding dimension 1", range=x_range, **common),
        "yaxis": _axis("embedding dimension 2", range=y_range, scaleanchor="x", **common),
    }


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


def _plane_labels(markup: np.ndarray, centers: np.ndarray, color: str | np.ndarray) -> go.Scatter:
    """Build the labels, centred on the places `_place_labels` found, in one colour or one each."""
    return go.Scatter(
        _validate=VALIDATE,
        x=centers[:, 0],
        y=centers[:, 1],
        mode="text",
        text=markup,
        textposition="middle center",
        textfont={"family": MONO_FAMILY, "size": LABEL_FONT_SIZE, "color": color},
        hoverinfo="skip",
        showlegend=False,
    )


# the band: what a character at each place would predict

_BAND_LEVELS = 32  # probability steps per region colour: 8 colours x 32 steps fit uint8 codes
_CHIP_FONT_SIZE = 13  # px


def band_points(
    embedding: np.ndarray,
    *,
    resolution: int | None = None,
    height: int | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
) -> np.ndarray:
    """Return (n, d) float32 points that cover the embedding plot of `embedding`, for its `band`.

    d = 1: `resolution` (default 200) evenly spaced values across the axis. d = 2: the centres of
    a grid of square cells, `resolution` (default 40) columns wide, that tiles the plot area of
    a figure of `height` and `width_px`, so pass embedding_figure the same two. Every cell carries
    its hover text, so 40 columns (about 1,600 cells) add about 14 KB to the figure's JSON. d = 3:
    no points, shape (0, 3), because the 3-D plot draws no band. Raise ValueError if `embedding`
    is not (V, d) with d in 1..3 or `resolution` is below 2.

    >>> band_points(np.array([[0.0], [1.0]]), resolution=3)[:, 0]
    array([-0.03,  0.5 ,  1.03], dtype=float32)
    """
    embedding = np.asarray(embedding, dtype=np.float32)
    if embedding.ndim != 2 or not 1 <= embedding.shape[1] <= 3:
        raise ValueError(f"embedding must have shape (V, d) with d in 1..3, got {embedding.shape}.")
    if resolution is not None and resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}.")
    dim = embedding.shape[1]
    if dim == 1:
        low, high = _axis_range(embedding[:, 0])
        return np.linspace(low, high, resolution or 200, dtype=np.float32)[:, None]
    if dim == 3:
        return np.empty((0, 3), dtype=np.float32)

    x_range, y_range, _ = _plane_ranges(embedding, height or _DEFAULT_HEIGHTS[2], width_px)
    columns = resolution or 40
    cell = (x_range[1] - x_range[0]) / columns
    rows = max(1, round((y_range[1] - y_range[0]) / cell))
    xs = x_range[0] + (np.arange(columns) + 0.5) * cell  # (columns,) cell centres
    ys = y_range[0] + (np.arange(rows) + 0.5) * (y_range[1] - y_range[0]) / rows  # (rows,)
    grid_x, grid_y = np.meshgrid(xs, ys)  # (rows, columns) each
    return np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(np.float32)


@dataclass(frozen=True)
class _Band:
    """The band on a grid of cells: one row along the axis for d = 1, rows x columns for d = 2."""

    x: np.ndarray  # (columns,) ascending cell centres
    y: np.ndarray | None  # (rows,) ascending cell centres, None for d = 1
    ids: np.ndarray  # (rows, columns) int, the predicted character of each cell
    probs: np.ndarray  # (rows, columns) float in 0..1, its probability
    slots: np.ndarray  # (rows, columns) int, its colour's index in REGION_FILL_COLORS


def _validate_band(band: tuple, dim: int, vocab_size: int) -> _Band:
    """Check `band` = (points, ids, probs) for d = 1 or 2 and arrange it on its grid.

    Raise ValueError if the points have the wrong shape or do not form a full grid (d = 2),
    the three arrays differ in length or are empty, an id is out of range, or a value is not finite.
    """
    points, ids, probs = (np.asarray(array) for array in band)
    if dim == 1 and points.ndim == 2 and points.shape[1] == 1:
        points = points[:, 0]
    if points.shape[1:] != (() if dim == 1 else (2,)):
        expected = "(n,) or (n, 1)" if dim == 1 else "(n, 2)"
        raise ValueError(f"band points must have shape {expected} for d = {dim}, got {points.shape}.")
    if len(points) == 0 or ids.shape != (len(points),) or probs.shape != (len(points),):
        raise ValueError(
            f"band needs one predicted id and one probability per point, got {len(points)} points, "
            f"ids of shape {ids.shape} and probabilities of shape {probs.shape}."
        )
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"band ids must be integers in 0..{vocab_size - 1}, got {ids.min()}..{ids.max()}.")
    if not (np.isfinite(points).all() and np.isfinite(probs).all()):
        raise ValueError("band points or probabilities contain NaN or infinite values.")
    probs = np.clip(probs, 0.0, 1.0)

    if dim == 1:
        order = np.argsort(points, kind="stable")
        x, ids, probs, y = points[order], ids[order][None, :], probs[order][None, :], None
    else:
        x, column = np.unique(points[:, 0], return_inverse=True)
        y, row = np.unique(points[:, 1], return_inverse=True)
        cell = row * len(x) + column  # (n,) flat cell index
        if len(x) * len(y) != len(points) or np.unique(cell).size != len(points):
            raise ValueError(
                "band points for d = 2 must form a full grid, every x with every y once, "
                "as band_points returns."
            )
        grid_ids = np.empty(len(points), dtype=ids.dtype)
        grid_probs = np.empty(len(points))
        grid_ids[cell], grid_probs[cell] = ids, probs
        ids, probs = grid_ids.reshape(len(y), len(x)), grid_probs.reshape(len(y), len(x))
    return _Band(x=x, y=y, ids=ids, probs=probs, slots=_region_slots(x, y, ids))


def _region_slots(x: np.ndarray, y: np.ndarray | None, ids: np.ndarray) -> np.ndarray:
    """Give each predicted character a colour: in order along the axis (d = 1) or around the
    origin (d = 2), so regions next to each other get different colours. Return (rows, columns)
    indices into REGION_FILL_COLORS."""
    distinct, inverse = np.unique(ids, return_inverse=True)
    inverse = inverse.reshape(ids.shape)
    counts = np.bincount(inverse.ravel())
    mean_x = np.bincount(inverse.ravel(), weights=np.broadcast_to(x, ids.shape).ravel()) / counts
    if y is None:
        key = mean_x
    else:
        mean_y = np.bincount(inverse.ravel(), weights=np.broadcast_to(y[:, None], ids.shape).ravel()) / counts
        key = np.arctan2(mean_y, mean_x)  # regions of argmax e . w[b] are wedges around the origin
    palette_size = len(REGION_FILL_COLORS)
    slot_of_distinct = np.empty(len(distinct), dtype=np.int64)
    slot_of_distinct[np.argsort(key, kind="stable")] = np.arange(len(distinct)) % palette_size
    # around the origin the last region touches the first, so it must not share its colour
    last = int(np.argmax(key))
    if y is not None and len(distinct) > 1 and slot_of_distinct[last] == slot_of_distinct[np.argmin(key)]:
        slot_of_distinct[last] = 1
    return slot_of_distinct[inverse]


def _band_heatmap(
    band: _Band, points: _Points, alphas: tuple[float, float], y: np.ndarray | None = None
) -> go.Heatmap:
    """Build the band's heatmap: each cell in its predicted character's colour, with an opacity
    from alphas[0] at probability 0 to alphas[1] at probability 1, and hover text.

    `y` replaces the cell centres of a d = 1 band with the strip's bottom and top edges.
    """
    # one uint8 code per cell: the colour slot, then the probability in _BAND_LEVELS steps
    levels = np.rint(band.probs * (_BAND_LEVELS - 1)).astype(np.uint8)
    codes = (band.slots * _BAND_LEVELS + levels).astype(np.uint8)  # (rows, columns)
    top_code = (int(band.slots.max()) + 1) * _BAND_LEVELS - 1
    colorscale = []
    for slot in range(int(band.slots.max()) + 1):
        red, green, blue = (int(REGION_FILL_COLORS[slot][i : i + 2], 16) for i in (1, 3, 5))
        for level, alpha in ((0, alphas[0]), (_BAND_LEVELS - 1, alphas[1])):
            colorscale.append(
                [(slot * _BAND_LEVELS + level) / top_code, f"rgba({red},{green},{blue},{alpha})"]
            )

    return go.Heatmap(
        _validate=VALIDATE,
        x=band.x.astype(np.float32),
        y=(band.y if y is None else y).astype(np.float32),
        z=codes,
        zmin=0,
        zmax=top_code,
        colorscale=colorscale,
        showscale=False,
        # a fixed-width string array, which go.Figure deep-copies in one piece, not string by string
        text=np.array([_escape(label) for label in points.labels])[band.ids],
        customdata=np.rint(band.probs * 100).astype(np.uint8),
        hovertemplate="a character here predicts <b>%{text}</b> (p = %{customdata}%)<extra></extra>",
        hoverongaps=False,
    )


def _chip_texts(label: str) -> list[tuple[str, float]]:
    """Return the texts a region's chip may show, longest first ("predicts X", "X"), each with
    its width in px."""
    texts = []
    for prefix in ("predicts ", ""):
        # the prefix is in the proportional font, about 0.55 em a character
        width = 0.55 * _CHIP_FONT_SIZE * len(prefix) + _label_width_px(label, _CHIP_FONT_SIZE) + 14
        texts.append((f"{prefix}<b>{_label_markup(label)}</b>", width))
    return texts


def _chip(text: str, x: float, y: float, slot: int) -> dict:
    """Return an annotation: `text` in white on a solid box of the slot's chip colour."""
    color = REGION_CHIP_COLORS[slot]
    return {
        "x": x,
        "y": y,
        "text": text,
        "showarrow": False,
        "font": {"size": _CHIP_FONT_SIZE, "color": "#ffffff"},
        "bgcolor": color,
        "bordercolor": color,
        "borderpad": 2,
    }


def _strip_chips(
    band: _Band, labels: list[str], x_range: tuple[float, float], units_per_px: float, y: float
) -> list[dict]:
    """Label each run of one predicted character along the d = 1 strip, centred on its visible
    part, where the label fits."""
    x = band.x
    step = np.diff(x)
    # cell edges: midpoints between centres, and half a step beyond the first and last centre
    half_first = step[0] / 2 if len(x) > 1 else 0.0
    half_last = step[-1] / 2 if len(x) > 1 else 0.0
    edges = np.concatenate([[x[0] - half_first], (x[1:] + x[:-1]) / 2, [x[-1] + half_last]])
    ids = band.ids[0]
    starts = np.flatnonzero(np.diff(ids, prepend=-1))  # first cell of every run
    ends = np.append(starts[1:], len(ids))

    chips = []
    for start, end in zip(starts, ends, strict=True):
        left, right = max(edges[start], x_range[0]), min(edges[end], x_range[1])
        room_px = (right - left) / units_per_px - 8
        fitting = [text for text, width_px in _chip_texts(labels[ids[start]]) if width_px <= room_px]
        if fitting:
            chips.append(_chip(fitting[0], (left + right) / 2, y, int(band.slots[0, start])))
    return chips


def _region_chips(band: _Band, labels: list[str], obstacles: np.ndarray, units_per_px: float) -> list[dict]:
    """Label each d = 2 region, largest first, at the free place nearest its centroid where the
    whole chip lies inside the region and overlaps no obstacle (x0, y0, x1, y1 boxes)."""
    grid_x, grid_y = np.meshgrid(band.x, band.y)  # (rows, columns) each
    distinct, sizes = np.unique(band.ids, return_counts=True)
    chip_height = (_CHIP_FONT_SIZE * 1.3 + 6) * units_per_px
    occupied = [obstacles]

    chips = []
    for char_id in distinct[np.argsort(-sizes, kind="stable")]:
        inside = band.ids == char_id  # (rows, columns)
        cells = np.column_stack([grid_x[inside], grid_y[inside]])  # (k, 2) centres
        nearest = cells[np.argsort(((cells - cells.mean(axis=0)) ** 2).sum(axis=1))[:400]]
        for text, width_px in _chip_texts(labels[char_id]):
            half = np.array([width_px * units_per_px, chip_height]) / 2
            spot = _free_spot_in_region(band, char_id, nearest, half, np.vstack(occupied))
            if spot is not None:
                occupied.append(np.hstack([spot - half, spot + half])[None, :])
                chips.append(_chip(text, float(spot[0]), float(spot[1]), int(band.slots[inside][0])))
                break
    return chips


def _free_spot_in_region(
    band: _Band, char_id: int, candidates: np.ndarray, half: np.ndarray, occupied: np.ndarray
) -> np.ndarray | None:
    """Return the first of `candidates` (k, 2) where a box of half-size `half` has its corners and
    centre in the region of `char_id` and overlaps none of the `occupied` boxes (m, 4), or None."""
    # the cell under each corner and the centre, where outside the grid counts as outside the region
    x_edges = (band.x[1:] + band.x[:-1]) / 2
    y_edges = (band.y[1:] + band.y[:-1]) / 2
    inside = np.ones(len(candidates), dtype=bool)
    for corner in ((-1, -1), (-1, 1), (1, -1), (1, 1), (0, 0)):
        probe = candidates + half * corner  # (k, 2)
        column, row = np.searchsorted(x_edges, probe[:, 0]), np.searchsorted(y_edges, probe[:, 1])
        inside &= (probe[:, 0] >= band.x[0]) & (probe[:, 0] <= band.x[-1])
        inside &= (probe[:, 1] >= band.y[0]) & (probe[:, 1] <= band.y[-1])
        inside &= band.ids[row, column] == char_id

    # overlap tests only for candidates inside the region, a few at a time, nearest first
    candidates = candidates[inside]
    for start in range(0, len(candidates), 32):
        chunk = candidates[start : start + 32]
        boxes = np.hstack([chunk - half, chunk + half])  # (c, 4)
        overlaps = (occupied[None, :, :2] < boxes[:, None, 2:]) & (occupied[None, :, 2:] > boxes[:, None, :2])
        free = ~overlaps.all(axis=2).any(axis=1)  # (c,)
        if free.any():
            return chunk[int(np.argmax(free))]
    return None


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
    return go.Figure(traces, layout, _validate=VALIDATE)


# ---------------------------------------------------------------------------------------------
# trajectories

# raw bytes of all drawn line coordinates: about 7,300 points at d = 1 (uint16 epoch, float32 value)
# or 5,500 at d = 2 and 3 (two float32 coordinates). Plotly's to_json sends them as base64 with
# every "/" escaped as \u002f, and float32 values near +-1 make many "/". With plotly 7.1 a whole
# figure came to 76-91 KB of JSON at V = 100 and 1,000.
MAX_TRAJECTORY_BYTES = 44_000
_END_LABEL_HEIGHT_PX = 19  # a 15 px label plus a 2 px gap above and below
_LEADER_CLEARANCE_PX = 7  # a leader this far above or below a label's centre misses most glyphs


def trajectory_figure(
    epochs: np.ndarray,  # (T,) ascending epoch of each frame
    trajectory: np.ndarray,  # (T, V, d) the embedding table at those epochs
    labels: list[str],  # visible stand-in per vocabulary entry, length V
    names: list[str],  # hover name per entry
    highlight: int | None = None,  # id of the queried character, drawn thick in the accent colour
    *,
    order: np.ndarray | None = None,
    max_lines: int = 200,
    max_frames: int = 120,
    height: int | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
) -> go.Figure:
    """Draw how each character's embedding moved during training.

    d = 1: one line per character, its embedding value against the epoch, labelled at its right
    end. Labels that would overlap move to further columns, joined to their line's end by a
    leader line, and each keeps its line's exact final value. d = 2 and 3: each character's path
    in the plane of the first two dimensions, with a dot and its label at its end. Lines are thin
    and translucent, and `highlight` is drawn thick in the accent colour. Hovering a label or end
    dot shows the character's name and final embedding, and the highlighted line hovers per frame.

    Only the first `max_lines` ids of `order` (default: vocabulary order, so pass the most
    frequent characters first) are drawn, plus `highlight`, and a corner note counts the rest.
    Each line keeps at most `max_frames` frames, always the first and the last, and fewer when all
    lines' coordinates would pass MAX_TRAJECTORY_BYTES. Label room is computed for a figure about
    `width_px` wide.

    Raise ValueError for arrays of inconsistent shape, d outside 1..3, no frames, non-finite
    values, an out-of-range `highlight` or `order`, max_lines < 1 or max_frames < 2.
    """
    epochs = np.asarray(epochs)
    trajectory = np.asarray(trajectory, dtype=np.float32)
    _validate_trajectory(epochs, trajectory, labels, names, highlight, max_lines, max_frames)
    vocab_size, dim = trajectory.shape[1:]

    # the lines to draw: the first max_lines of `order`, and the highlighted one whatever its rank
    order = np.arange(vocab_size) if order is None else np.asarray(order, dtype=np.int64)
    if sorted(order.tolist()) != list(range(vocab_size)):
        raise ValueError(f"order must contain every id 0..{vocab_size - 1} once.")
    lines = order[:max_lines]
    if highlight is not None and highlight not in lines:
        lines = np.append(lines, highlight)
    bytes_per_point = 6 if dim == 1 else 8
    frames_per_line = min(max_frames, max(2, MAX_TRAJECTORY_BYTES // (bytes_per_point * len(lines))))
    frames = downsample(epochs, np.arange(len(epochs)), frames_per_line)[1]  # (F,) frame indices

    paths = _TrajectoryPaths(
        epochs=epochs[frames],
        values=trajectory[frames][:, lines],  # (F, n, d)
        ids=lines,
        labels=[labels[i] for i in lines],
        names=[_escape(names[i]) for i in lines],
        highlight=None if highlight is None else int(np.flatnonzero(lines == highlight)[0]),
        left_out=vocab_size - len(lines),
    )
    if dim == 1:
        return _trajectory_lines_figure(paths, height or 440, width_px)
    return _trajectory_plane_figure(paths, height or 600, width_px, dim)


@dataclass(frozen=True)
class _TrajectoryPaths:
    """The drawn lines of a trajectory figure, one column per drawn character."""

    epochs: np.ndarray  # (F,) epochs of the kept frames
    values: np.ndarray  # (F, n, d) float32 embeddings of the drawn characters
    ids: np.ndarray  # (n,) their vocabulary ids
    labels: list[str]  # (n,) stand-ins as given
    names: list[str]  # (n,) escaped hover names
    highlight: int | None  # column of the highlighted character
    left_out: int  # characters not drawn

    @cached_property
    def markup(self) -> np.ndarray:
        """(n,) object: labels escaped for SVG text, the highlighted one in bold."""
        markup = np.array([_label_markup(label) for label in self.labels], dtype=object)
        if self.highlight is not None:
            markup[self.highlight] = f"<b>{markup[self.highlight]}</b>"
        return markup

    def label_colors(self, color: str = TEXT_COLOR) -> np.ndarray:
        """(n,) object: `color` for every line's label or dot, the accent for the highlighted one."""
        colors = np.full(len(self.ids), color, dtype=object)
        if self.highlight is not None:
            colors[self.highlight] = ACCENT_COLOR
        return colors

    @staticmethod
    def separated(values: np.ndarray, gap: float = np.nan) -> np.ndarray:
        """Return (F, n) `values` as one flat array, line after line, with `gap` after each line.

        A NaN gap in y makes Plotly draw the lines as separate lines of one trace, whatever x is
        there, so x may repeat its last value and keep an integer type."""
        return np.vstack([values, np.full((1, values.shape[1]), gap, dtype=values.dtype)]).T.ravel()


def _validate_trajectory(epochs, trajectory, labels, names, highlight, max_lines, max_frames) -> None:
    """Raise ValueError for the inputs `trajectory_figure` rejects."""
    if trajectory.ndim != 3 or not 1 <= trajectory.shape[2] <= 3 or trajectory.shape[0] == 0:
        raise ValueError(
            f"trajectory must have shape (T, V, d) with T >= 1 and d in 1..3, got {trajectory.shape}."
        )
    frame_count, vocab_size, _ = trajectory.shape
    if epochs.shape != (frame_count,):
        raise ValueError(f"epochs must have shape ({frame_count},), one per frame, got {epochs.shape}.")
    for argument, values in (("labels", labels), ("names", names)):
        if len(values) != vocab_size:
            raise ValueError(
                f"{argument} has {len(values)} entries but trajectory has {vocab_size} characters."
            )
    if not np.isfinite(trajectory).all():
        raise ValueError(
            "trajectory contains NaN or infinite values. Pass the frames before the loss diverged."
        )
    if highlight is not None and not 0 <= highlight < vocab_size:
        raise ValueError(f"highlight id {highlight} is out of range 0..{vocab_size - 1}.")
    if max_lines < 1 or max_frames < 2:
        raise ValueError(
            f"max_lines must be at least 1 and max_frames at least 2, got {max_lines} and {max_frames}."
        )


def _corner_note(parts: list[str]) -> list[dict]:
    """Return the non-empty `parts` as one note above the plot's top right corner (a list of one
    annotation), or an empty list."""
    parts = [part for part in parts if part]
    if not parts:
        return []
    note = _left_out_note(1)[0]
    return [note | {"text": " · ".join(parts)}]


def _trajectory_notes(paths: _TrajectoryPaths, labels_left_out: int, extra: str = "") -> list[dict]:
    """Return the corner note counting the characters and labels not drawn, plus `extra`."""
    vocab_size = len(paths.ids) + paths.left_out
    return _corner_note(
        [
            f"{len(paths.ids):,} of {vocab_size:,} characters drawn" if paths.left_out else "",
            f"{labels_left_out} labels left out for lack of room" if labels_left_out else "",
            extra,
        ]
    )


def _trajectory_line_traces(paths: _TrajectoryPaths, x: np.ndarray, y: np.ndarray, hover_x: str) -> list:
    """Build the lines: all of them as one thin translucent trace, then the highlighted one thick
    in the accent colour with hover per frame. x and y are (F, n)."""
    traces = [
        go.Scatter(
            _validate=VALIDATE,
            x=paths.separated(x, gap=x[-1, 0]),
            y=paths.separated(y),
            mode="lines",
            line={"color": CURRENT_COLOR, "width": 1.2},
            opacity=0.5,
            hoverinfo="skip",
            showlegend=False,
        )
    ]
    if paths.highlight is not None:
        column = paths.highlight
        traces.append(
            go.Scatter(
                _validate=VALIDATE,
                x=x[:, column],
                y=y[:, column],
                mode="lines",
                line={"color": ACCENT_COLOR, "width": 3.5},
                name=_label_markup(paths.labels[column]),
                hovertemplate=f"{hover_x}<extra>%{{fullData.name}}</extra>",
                showlegend=False,
            )
        )
    return traces


def _end_dots(paths: _TrajectoryPaths, x: np.ndarray, y: np.ndarray, position: str) -> go.Scatter:
    """Build a dot at every line's end that hovers its label, name and final embedding."""
    return go.Scatter(
        _validate=VALIDATE,
        x=x,
        y=y,
        mode="markers",
        marker={"color": paths.label_colors(CURRENT_COLOR), "size": 6},
        text=paths.markup,
        cliponaxis=False,
        showlegend=False,
        **_end_hover(paths, position),
    )


def _end_hover(paths: _TrajectoryPaths, position: str) -> dict:
    """Return the hover settings of the end labels or dots: label, name, final embedding."""
    return {
        "hovertext": np.array(paths.names, dtype=object),
        "hovertemplate": f"<b>%{{text}}</b>  %{{hovertext}}<br>final embedding {position}<extra></extra>",
    }


# d = 1: lines against the epoch


def _trajectory_lines_figure(paths: _TrajectoryPaths, height: int, width_px: int) -> go.Figure:
    """d = 1: embedding value against epoch, and the labels in columns right of the lines' ends.

    The labels have a subplot of their own whose x unit is a px, because Plotly hides text
    placed outside its axis range even with cliponaxis=False.
    """
    values = paths.values[:, :, 0]  # (F, n)
    ends = values[-1]  # (n,)
    low, high = _finite_bounds(values)
    pad = 0.05 * (high - low) if high > low else 1.0
    y_range = [low - pad, high + pad]
    margin = {"l": 64, "r": 16, "t": 44, "b": 56}
    plot_size = (width_px - margin["l"] - margin["r"], height - margin["t"] - margin["b"])

    ends_px = (ends - y_range[0]) * plot_size[1] / (y_range[1] - y_range[0])
    columns, offsets_px = _end_label_columns(paths, ends_px, max_width_px=0.2 * width_px)
    label_area_px = float(offsets_px[-1])
    split = 1 - label_area_px / plot_size[0]  # fraction of the plot width left for the lines

    # the lines end 6 px before the label subplot, so their end dots hover in the lines' subplot
    first, last = float(paths.epochs[0]), float(paths.epochs[-1])
    x_range = [first, last] if last > first else [first - 1, first + 1]
    x_range[1] += 6 * (x_range[1] - x_range[0]) / (split * plot_size[0] - 6)
    x = np.repeat(paths.epochs[:, None], len(ends), axis=1).astype(np.int64)  # (F, n)
    traces = _trajectory_line_traces(paths, x, values, "epoch %{x:,}<br>embedding %{y:.4f}")
    traces.append(_end_dots(paths, np.full(len(ends), paths.epochs[-1]), ends, "%{y:.4f}"))
    traces.append(_end_labels(paths, columns, offsets_px, ends))

    hidden = {"visible": False, "fixedrange": True}
    layout = _base_layout(
        height,
        margin=margin,
        annotations=_trajectory_notes(paths, int(np.count_nonzero(columns == 0))),
        xaxis=_axis("epoch", range=x_range, tickformat=",d", domain=[0, split]),
        yaxis=_axis("embedding value", range=y_range, zeroline=True, zerolinecolor=LINE_COLOR),
        xaxis2={"domain": [split, 1], "range": [0, label_area_px], "anchor": "y2"} | hidden,
        yaxis2={"matches": "y", "anchor": "x2"} | hidden,
        hovermode="closest",
    )
    return go.Figure(traces, layout, _validate=VALIDATE)


def _end_label_columns(
    paths: _TrajectoryPaths, ends_px: np.ndarray, max_width_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Give each line's end label, at its line's final height `ends_px`, the first column right
    of the lines where it overlaps no label placed before it and no leader line crosses a label.

    Labels are placed highlighted first, then in drawing order, in about `max_width_px` of
    columns. A leader runs at its label's height from the lines' end to the label's column, so two
    labels in different columns must be _LEADER_CLEARANCE_PX apart in height. Return (n,) columns
    (1 next to the lines, 0 for a label left out) and the px offset of each column's left edge from
    the lines' end, with the total width last.
    """
    widths_px = np.array([_label_width_px(label) for label in paths.labels])  # (n,)
    max_columns = max(1, int(max_width_px / (float(np.median(widths_px)) + LABEL_GAP_PX)))
    placement = [paths.highlight] if paths.highlight is not None else []
    placement += [i for i in range(len(ends_px)) if i != paths.highlight]

    columns = np.zeros(len(ends_px), dtype=np.int64)
    for i in placement:
        distance = np.abs(ends_px - ends_px[i])  # (n,) px
        for column in range(1, max_columns + 1):
            same_column = (columns == column) & (distance < _END_LABEL_HEIGHT_PX)
            crossing = (columns > 0) & (columns != column) & (distance < _LEADER_CLEARANCE_PX)
            if not (same_column | crossing).any():
                columns[i] = column
                break

    # each column is as wide as its widest label
    used = int(columns.max(initial=0))
    widths = [widths_px[columns == column].max(initial=0) + LABEL_GAP_PX for column in range(1, used + 1)]
    return columns, np.concatenate([[LABEL_GAP_PX], LABEL_GAP_PX + np.cumsum(widths)])


def _end_labels(
    paths: _TrajectoryPaths, columns: np.ndarray, offsets_px: np.ndarray, ends: np.ndarray
) -> go.Scatter:
    """Build the end labels of columns > 0 in the px-wide label subplot, each at its line's final
    value, with a leader line back to the lines' end from labels beyond the first column."""
    placed = columns > 0
    x = offsets_px[columns[placed] - 1]  # (m,) left edge of each label
    leader = np.where(columns[placed] > 1, x, 0)
    return go.Scatter(
        _validate=VALIDATE,
        x=x.astype(np.float32),
        y=ends[placed],
        xaxis="x2",
        yaxis="y2",
        mode="text",
        text=paths.markup[placed],
        textposition="middle right",
        textfont={"family": MONO_FAMILY, "size": LABEL_FONT_SIZE, "color": paths.label_colors()[placed]},
        error_x={
            "visible": True,
            "type": "data",
            "symmetric": False,
            "arrayminus": leader.astype(np.float32),
            "color": LINE_COLOR,
            "thickness": 0.8,
            "width": 0,
        },
        cliponaxis=False,
        showlegend=False,
        **_end_hover_subset(paths, placed, "%{y:.4f}"),
    )


def _end_hover_subset(paths: _TrajectoryPaths, mask: np.ndarray, position: str) -> dict:
    hover = _end_hover(paths, position)
    return hover | {"hovertext": hover["hovertext"][mask]}


# d = 2 and 3: paths in the plane


def _trajectory_plane_figure(paths: _TrajectoryPaths, height: int, width_px: int, dim: int) -> go.Figure:
    """d = 2 and 3: paths in the plane of the first two dimensions, a dot and label at each end."""
    x, y = paths.values[:, :, 0], paths.values[:, :, 1]  # (F, n) each
    ends = paths.values[-1, :, :2]  # (n, 2)
    x_range, y_range, units_per_px = _plane_ranges(paths.values[:, :, :2].reshape(-1, 2), height, width_px)

    # labels around the end dots, the highlighted one first
    radius = 4 * units_per_px
    obstacles = np.hstack([ends - radius, ends + radius])  # (n, 4)
    sizes = np.array([(_label_width_px(label), LABEL_FONT_SIZE * 1.15) for label in paths.labels])
    if paths.highlight is not None:
        sizes[paths.highlight] *= HIGHLIGHT_FONT_SIZE / LABEL_FONT_SIZE
    placement = [paths.highlight] if paths.highlight is not None else []
    placement += [i for i in range(len(ends)) if i != paths.highlight]
    centers = _place_labels(ends.astype(np.float64), sizes * units_per_px, radius, placement, obstacles)
    placed = ~np.isnan(centers[:, 0])

    traces = _trajectory_line_traces(paths, x, y, "(%{x:.3f}, %{y:.3f})")
    traces.append(_end_dots(paths, ends[:, 0], ends[:, 1], "(%{x:.3f}, %{y:.3f})"))
    label_colors = paths.label_colors()[placed]
    traces.append(_plane_labels(paths.markup[placed], centers[placed].astype(np.float32), label_colors))

    projected = "dimension 3 not shown" if dim == 3 else ""
    layout = _base_layout(
        height,
        margin=_PLANE_MARGIN,
        annotations=_trajectory_notes(paths, int(np.count_nonzero(~placed)), projected),
        hovermode="closest",
        **_plane_axes(x_range, y_range),
    )
    return go.Figure(traces, layout, _validate=VALIDATE)


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
    return go.Figure(traces, layout, _validate=VALIDATE)


def _probability_bars(categories: list[str], values: np.ndarray, name: str, color: str) -> go.Bar:
    return go.Bar(
        _validate=VALIDATE,
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
    return go.Figure(layout=layout, _validate=VALIDATE)

"""Shareable links: training settings and the example text as URL query parameters.

A lecturer hands out `...?example=sonnets&dim=2&lr=0.05` and every student's page opens with
those settings. Unknown parameters and invalid values are reported, never fatal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from charembed.examples import EXAMPLES
from charembed.settings import LIMITS, Limits, TrainingSettings

# query parameter -> TrainingSettings field
SETTING_PARAMS = {
    "dim": "embedding_dim",
    "lr": "learning_rate",
    "epochs": "epochs",
    "optimizer": "optimizer",
    "seed": "seed",
    "train_chars": "train_chars",
    "vocab": "vocab_mode",
    "accumulate": "accumulate_grad",
    "holdout": "holdout_fraction",
}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class LinkState:
    """The settings, example name (None to keep the text) and pace that a link sets."""

    settings: TrainingSettings
    example: str | None = None
    pace_seconds: float = 0.0
    problems: tuple[str, ...] = ()  # one sentence per ignored parameter


def parse_query(params: Mapping[str, str], limits: Limits = LIMITS) -> LinkState:
    """Read settings from URL query parameters. Each invalid or unknown parameter is ignored and
    named in `problems`; the others still apply."""
    values: dict[str, object] = {}
    problems: list[str] = []
    example = None
    pace = 0.0
    for key, raw in params.items():
        try:
            if key == "example":
                example = _example_name(raw)
            elif key == "pace":
                pace = float(raw)
                if not 0 <= pace <= limits.max_pace_seconds:
                    raise ValueError(f"choose 0 to {limits.max_pace_seconds:g} seconds")
            elif key in SETTING_PARAMS:
                field = SETTING_PARAMS[key]
                value = _convert(field, raw)
                dataclasses.replace(TrainingSettings(), **{field: value}).validate(limits)
                values[field] = value
            else:
                raise ValueError(f"unknown; the known ones are example, pace, {', '.join(SETTING_PARAMS)}")
        except ValueError as error:
            problems.append(f"Ignored link parameter {key}={raw[:40]!r}: {error}")
    return LinkState(TrainingSettings(**values), example, pace, tuple(problems))


def build_query(settings: TrainingSettings, example: str | None, pace_seconds: float) -> str:
    """Return the query string (without "?") for settings that differ from the defaults."""
    defaults = TrainingSettings()
    params: dict[str, str] = {}
    for key, name in _example_keys().items():
        if name == example:
            params["example"] = key
    for key, field in SETTING_PARAMS.items():
        value = getattr(settings, field)
        if value != getattr(defaults, field):
            params[key] = (
                str(int(value))
                if isinstance(value, bool)
                else f"{value:g}"
                if isinstance(value, float)
                else str(value)
            )
    if pace_seconds:
        params["pace"] = f"{pace_seconds:g}"
    return urlencode(params)


def _convert(field: str, raw: str) -> object:
    kind = type(getattr(TrainingSettings(), field))
    if kind is bool:
        word = raw.strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(f"expected one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
        return word in TRUE_WORDS
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ValueError("expected a whole number" if kind is int else "expected a number") from None
    return raw


def _example_keys() -> dict[str, str]:
    return {example.key: example.name for example in EXAMPLES}


def _example_name(key: str) -> str:
    names = _example_keys()
    if key not in names:
        raise ValueError(f"unknown example; choose one of {', '.join(names)}")
    return names[key]

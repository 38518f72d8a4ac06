"""Built-in example texts: the source of Python's json module, which the original notebook trained
on, and the texts shipped in assets/texts/.

Every example is decoded by `charembed.text.read_text` from its bytes, so the app reports its
encoding the same way as for an uploaded file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from charembed.text import DecodedText, read_text

JSON_EXAMPLE = "Python's json module (the original notebook)"

# Found relative to this file, so the app works from any working directory.
# NOTE: assets/ sits beside the package, not inside it, so the shipped texts are found only when
# running from a checkout of the repository (as app.py and Hugging Face Spaces do).
TEXTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "texts"


@dataclass(frozen=True)
class Example:
    """A built-in text offered in the example picker."""

    name: str  # shown in the example picker
    key: str  # short stable name for links, e.g. ?example=sonnets
    description: str  # one-line summary of what the text is and why it is interesting to train on
    path: Path | None  # shipped file, or None for the json module's source, read at run time


EXAMPLES: tuple[Example, ...] = (
    Example(
        name=JSON_EXAMPLE,
        key="json",
        description=(
            "the source of json/__init__.py from the Python running this app, the text the notebook "
            "trained on: ASCII code and docstrings"
        ),
        path=None,
    ),
    Example(
        name="Shakespeare's sonnets (1609)",
        key="sonnets",
        description=(
            "nineteen sonnets in modern spelling: plain ASCII English verse, so the notebook's "
            "fixed vocabulary of code points 0-125 fits it too"
        ),
        path=TEXTS_DIR / "shakespeare_sonnets.txt",
    ),
    Example(
        name="A café morning in twelve languages",
        key="cafe",
        description=(
            "one short scene in Latin, Greek, Cyrillic and Japanese script, with accents and emoji: "
            "hundreds of distinct characters, many of them rare"
        ),
        path=TEXTS_DIR / "cafe_multilingual.txt",
    ),
)


def example_names() -> list[str]:
    """Return the example names in picker order, JSON_EXAMPLE (the default) first."""
    return [example.name for example in EXAMPLES]


def load_example(name: str) -> DecodedText:
    """Read the example called `name` and decode it as an uploaded file would be.

    The json example is read at call time from `json.__file__` of the running Python, exactly the
    file the notebook opened. Raise KeyError naming the valid names for an unknown name, and
    FileNotFoundError when a shipped file or the json module's source is missing.
    """
    example = _find_example(name)
    if example.path is not None:
        return read_text(example.path.read_bytes())

    # Pythons installed without their .py sources point __file__ at the compiled module.
    source_path = Path(json.__file__)
    if source_path.suffix != ".py":
        raise FileNotFoundError(
            f"The json module's source is not installed with this Python ({source_path} is compiled "
            "code): pick another example or paste a text."
        )
    return read_text(source_path.read_bytes())


def _find_example(name: str) -> Example:
    for example in EXAMPLES:
        if example.name == name:
            return example
    valid_names = ", ".join(f'"{valid_name}"' for valid_name in example_names())
    raise KeyError(f'Unknown example "{name}": choose one of {valid_names}.')

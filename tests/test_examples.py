import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from charembed.examples import EXAMPLES, JSON_EXAMPLE, TEXTS_DIR, example_names, load_example

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [example for example in EXAMPLES if example.path is not None]


def shipped_text(file_name: str) -> str:
    example = next(example for example in SHIPPED if example.path.name == file_name)
    return load_example(example.name).text


def json_source() -> str:
    # The original notebook ran open(json.__file__).read(), with the default encoding.
    with open(json.__file__) as file:
        return file.read()


# --- names


def test_names_start_with_json_example():
    assert example_names()[0] == JSON_EXAMPLE
    assert EXAMPLES[0].path is None


def test_names_are_unique():
    names = example_names()

    assert len(set(names)) == len(names)
    assert names == [example.name for example in EXAMPLES]


def test_at_least_two_shipped_texts():
    assert len(SHIPPED) >= 2


def test_descriptions_are_one_line():
    for example in EXAMPLES:
        assert example.description, example.name
        assert "\n" not in example.description, example.name


# --- loading


@pytest.mark.parametrize("name", example_names())
def test_every_example_loads(name):
    decoded = load_example(name)

    assert decoded.text
    assert len(set(decoded.text)) >= 2
    assert decoded.truncated_chars == 0
    assert decoded.encoding == "UTF-8"


def test_json_example_matches_notebook():
    text = load_example(JSON_EXAMPLE).text

    assert text == json_source()
    assert text.startswith('r"""JSON')


def test_unknown_name_raises_key_error():
    with pytest.raises(KeyError) as error:
        load_example("Moby-Dick")

    message = error.value.args[0]  # str() of a KeyError returns the repr of its message
    assert "Moby-Dick" in message
    for name in example_names():
        assert name in message


def test_examples_load_from_another_directory(tmp_path):
    code = (
        "from charembed.examples import example_names, load_example\n"
        "print(sum(len(load_example(name).text) for name in example_names()))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )

    expected = sum(len(load_example(name).text) for name in example_names())
    assert int(result.stdout) == expected


# --- shipped files


@pytest.mark.parametrize("example", SHIPPED, ids=lambda example: example.path.name)
def test_shipped_file_is_clean_utf8(example):
    data = example.path.read_bytes()

    assert example.path.parent == TEXTS_DIR
    assert not data.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in data
    assert data.endswith(b"\n")
    assert load_example(example.name).text == data.decode("utf-8")


@pytest.mark.parametrize("example", SHIPPED, ids=lambda example: example.path.name)
def test_shipped_file_is_credited_in_readme(example):
    readme = (TEXTS_DIR / "README.md").read_text(encoding="utf-8")

    assert f"## {example.path.name}" in readme


def test_sonnets_fit_notebook_vocab():
    text = shipped_text("shakespeare_sonnets.txt")

    assert max(map(ord, text)) < 126  # the notebook's classes are code points 0-125
    assert "Shall I compare thee to a summer's day?" in text


def test_multilingual_text_has_rare_characters():
    text = shipped_text("cafe_multilingual.txt")
    distinct = set(text)

    assert any(ord(char) > 0xFFFF for char in distinct)  # emoji outside the BMP, such as 👍
    assert {"é", "ñ", "ř", "ł", "ü", "ç"} <= distinct
    assert {"λ", "ж", "ğ", "ệ", "の"} <= distinct  # Greek, Cyrillic, Turkish, Vietnamese, Japanese
    assert 200 <= len(distinct) < 400
    assert unicodedata.is_normalized("NFC", text)


# --- dependencies


def test_examples_import_without_gradio():
    code = "import sys, charembed.examples; print('gradio' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"

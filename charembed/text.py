"""Turn pasted text or uploaded bytes into clean text, and draw characters visibly.

`read_text` is the entry point: it accepts a pasted str or the bytes of an uploaded file and
returns a `DecodedText` whose text has no byte-order mark, uses "\\n" for every line end and fits
`Limits.max_text_chars`. Bytes that start with a byte-order mark are decoded as the UTF-8, UTF-16
or UTF-32 it marks. Other bytes are decoded as UTF-8 when they are valid UTF-8, and otherwise in
the encoding that charset-normalizer detects. Input that cannot be used raises `TextError`, whose
message states what was wrong and what to do.

`display_char` and `describe_char` give every character a visible label and a readable name, for
plots and messages that must show whitespace and control characters.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer

from charembed.settings import LIMITS, Limits

OTHER = "<other>"  # the vocabulary entry that stands for all merged rare characters (see charembed.corpus)

PLAIN_TEXT_HINT = "Upload a plain-text file such as .txt, .md, .py, .csv."
EMPTY_TEXT_MESSAGE = "The text is empty: paste some text or upload a file."

# Byte-order marks with the Python codec that drops them and the Unicode encoding they mark.
# The UTF-32-LE mark starts with the UTF-16-LE one, so it is tested first.
_BOM_CODECS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)

# Leading bytes of common binary formats, only to name the format in the error message.
_BINARY_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or a .docx, .xlsx or .pptx file, which are zip archives)"),
    (b"\x1f\x8b", "a gzip archive"),
)

# Short Western or Cyrillic texts decode without errors under many single-byte code pages, and
# charset-normalizer 3.5 scores several of them as equally plausible. For the Windows-1252 bytes
# b"it\x92s caf\xe9" it ranks Windows-1250 first. Among such ties we prefer Windows-1252, the
# legacy code page of Western European Windows systems, then Windows-1251, its Cyrillic counterpart.
# NOTE: Turkish text in Windows-1254 often ties with Windows-1252 too, so it decodes as Windows-1252
# with ğ, ş, ı, İ read as ð, þ, ý, Ý. charset-normalizer 3.5 alone ranks Windows-1250 first there.
_PREFERRED_CODECS = ("cp1252", "cp1251")
# charset-normalizer 3.5 cannot separate two matches closer than this in chaos and in coherence.
_CHAOS_TIE = 0.005
_COHERENCE_TIE = 0.02

_READABLE_CODECS = {"ascii": "ASCII", "utf_8": "UTF-8", "latin_1": "ISO-8859-1"}
_WINDOWS_CODE_PAGES = {"cp874"} | {f"cp{number}" for number in range(1250, 1259)}

_STAND_INS = {" ": "␣", "\n": "⏎", "\t": "⇥"}
_NAMES = {" ": "space", "\n": "newline", "\t": "tab"}
# Unicode general categories drawn as "U+XXXX": control, format, surrogate, private use,
# unassigned, and space, line and paragraph separators other than " ".
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


class TextError(ValueError):
    """Input that cannot be used as training text. The message says what was wrong and what to do."""


@dataclass(frozen=True)
class DecodedText:
    text: str  # normalised: no byte-order mark, line ends are "\n"
    encoding: str  # a readable name: "UTF-8", "UTF-8 with byte-order mark", "UTF-16 with byte-order mark",
    #                "Windows-1252 (detected)", "pasted text"
    truncated_chars: int = 0  # characters cut off beyond limits.max_text_chars (0 if none)


def normalize_text(text: str) -> str:
    """Drop a leading byte-order mark and read "\\r\\n" and lone "\\r" as "\\n".

    >>> normalize_text("\\ufeffa\\r\\nb\\rc")
    'a\\nb\\nc'
    """
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode_bytes(data: bytes, limits: Limits = LIMITS) -> DecodedText:
    """Decode an uploaded file, then normalise it and cut it at limits.max_text_chars.

    Raise TextError for empty data, data over limits.max_upload_bytes, or data that is not text.
    """
    if not data:
        raise TextError(EMPTY_TEXT_MESSAGE)
    if len(data) > limits.max_upload_bytes:
        raise TextError(
            f"The file is {len(data) / 2**20:.1f} MB, over the upload limit of "
            f"{limits.max_upload_bytes / 2**20:g} MB: upload a smaller file or paste part of the text."
        )

    for bom, codec, unicode_encoding in _BOM_CODECS:
        if data.startswith(bom):
            text = _decode_marked(data, codec, unicode_encoding)
            return _finish(text, f"{unicode_encoding} with byte-order mark", limits)

    # Text files in UTF-8 or a single-byte code page contain no NUL bytes in practice, but binary
    # formats are full of them.
    if b"\x00" in data:
        raise TextError(_not_text_message(data, "it contains NUL bytes"))

    try:
        return _finish(data.decode("utf-8"), "UTF-8", limits)
    except UnicodeDecodeError:
        pass
    text, codec = _detect(data)
    return _finish(text, f"{_readable_codec(codec)} (detected)", limits)


def read_text(source: str | bytes, limits: Limits = LIMITS) -> DecodedText:
    """Accept pasted text (str) or file contents (bytes); normalise, cut at limits.max_text_chars.

    Raise TextError for empty input and for bytes that `decode_bytes` rejects.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_bytes(bytes(source), limits)
    return _finish(source, "pasted text", limits)


def display_char(char: str) -> str:
    """Return a visible stand-in: " " -> "␣", "\\n" -> "⏎", "\\t" -> "⇥", other control or invisible
    characters -> "U+XXXX"; printable characters unchanged. OTHER is shown as "other".

    Raise ValueError for a string that is neither one character nor OTHER.
    """
    if char == OTHER:
        return "other"
    _check_one_char(char)

    if char in _STAND_INS:
        return _STAND_INS[char]
    if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
        return _code_point_label(char)
    return char


def char_from_stand_in(shown: str) -> str | None:
    """Return the character that `display_char` draws as `shown` ("⏎" -> "\\n", "U+0007" -> "\\a"),
    or None when `shown` is not a stand-in."""
    for char, stand_in in _STAND_INS.items():
        if shown == stand_in:
            return char
    match = re.fullmatch(r"U\+([0-9A-F]{4,6})", shown)
    if match and int(match.group(1), 16) < 0x110000:
        return chr(int(match.group(1), 16))
    return None


def describe_char(char: str) -> str:
    """Return a readable name for hover text, e.g. "space", "newline", "LATIN SMALL LETTER A",
    falling back to "U+XXXX" for characters without a Unicode name (control characters among them).

    Raise ValueError for a string that is neither one character nor OTHER.
    """
    if char == OTHER:
        return "other (rare characters merged into one entry)"
    _check_one_char(char)

    if char in _NAMES:
        return _NAMES[char]
    return unicodedata.name(char, "") or _code_point_label(char)


def _finish(text: str, encoding: str, limits: Limits) -> DecodedText:
    """Normalise decoded text, reject it if empty, and cut it at limits.max_text_chars."""
    text = normalize_text(text)
    if not text:
        raise TextError(EMPTY_TEXT_MESSAGE)

    truncated_chars = max(0, len(text) - limits.max_text_chars)
    if truncated_chars:
        text = text[: limits.max_text_chars]
    return DecodedText(text=text, encoding=encoding, truncated_chars=truncated_chars)


def _decode_marked(data: bytes, codec: str, unicode_encoding: str) -> str:
    """Decode data that starts with a byte-order mark. Python's utf-16 and utf-32 codecs read the
    byte order from the mark and drop it, and utf-8-sig drops the UTF-8 mark."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        raise TextError(
            f"The file starts with a {unicode_encoding} byte-order mark but is not valid {unicode_encoding} "
            f"(invalid data at byte {error.start:,}). Save it again as UTF-8 and upload it again."
        ) from None


def _detect(data: bytes) -> tuple[str, str]:
    """Decode bytes of an unknown encoding with charset-normalizer and return (text, codec name).

    Raise TextError when charset-normalizer finds no encoding that reads as text, which it reports
    for binary data.
    """
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise TextError(_not_text_message(data, "no text encoding reads it"))

    ties = [match for match in matches if _is_tie(match, best)]
    for codec in _PREFERRED_CODECS:
        # could_be_from_charset lists every codec that decodes these bytes to the same text.
        if any(codec in match.could_be_from_charset for match in ties):
            return data.decode(codec), codec
    return str(best), best.encoding


def _is_tie(match: charset_normalizer.CharsetMatch, best: charset_normalizer.CharsetMatch) -> bool:
    return (
        abs(match.chaos - best.chaos) < _CHAOS_TIE and abs(match.coherence - best.coherence) <= _COHERENCE_TIE
    )


def _not_text_message(data: bytes, reason: str) -> str:
    kind = next((name for signature, name in _BINARY_SIGNATURES if data.startswith(signature)), None)
    if kind is None:
        return f"The file is not text ({reason}). {PLAIN_TEXT_HINT}"
    return f"The file is {kind}, not text ({reason}). {PLAIN_TEXT_HINT}"


def _readable_codec(codec: str) -> str:
    """Return a readable name for a Python codec name, e.g. "cp1252" -> "Windows-1252"."""
    if codec in _READABLE_CODECS:
        return _READABLE_CODECS[codec]
    if codec in _WINDOWS_CODE_PAGES:
        return f"Windows-{codec[2:]}"
    if codec.startswith("cp"):
        return f"Code page {codec[2:]}"
    if codec.startswith("iso8859_"):
        return f"ISO-8859-{codec.removeprefix('iso8859_')}"
    return codec.replace("_", "-").upper()


def _code_point_label(char: str) -> str:
    return f"U+{ord(char):04X}"


def _check_one_char(char: str) -> None:
    if len(char) != 1:
        raise ValueError(f"Expected one character or {OTHER!r}, got {char!r}.")

import io
import struct
import zipfile
import zlib

import pytest

from charembed.corpus import OTHER
from charembed.settings import Limits
from charembed.text import (
    DecodedText,
    TextError,
    decode_bytes,
    describe_char,
    display_char,
    normalize_text,
    read_text,
)

CP1252_PARAGRAPH = (
    "“Don’t worry,” she said – it’s only a draft. The café on the corner serves crème brûlée "
    "and a naïve little rosé; we’ll meet there at 5 o’clock… The bill: €4.50, or £4."
)


def png_bytes() -> bytes:
    """A valid 1x1 grey PNG: signature, IHDR, IDAT and IEND chunks with real CRCs."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        checksum = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # width, height, bit depth, grey, no interlace
    pixels = zlib.compress(b"\x00\x80")  # filter byte 0, one grey pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", "hello world\n" * 20)
    return buffer.getvalue()


# --- normalize_text


def test_normalize_drops_byte_order_mark():
    assert normalize_text("\ufeffabc") == "abc"


def test_normalize_keeps_inner_byte_order_mark():
    assert normalize_text("a\ufeffb") == "a\ufeffb"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb\r\n", "a\nb\n"),  # Windows
        ("a\rb\r", "a\nb\n"),  # classic Mac OS
        ("a\r\r\nb", "a\n\nb"),  # lone CR followed by CRLF
        ("a\n\rb", "a\n\nb"),  # LF then lone CR is two line ends
        ("no line ends", "no line ends"),
    ],
)
def test_normalize_line_ends(raw, expected):
    assert normalize_text(raw) == expected


# --- decode_bytes: encodings


def test_decode_utf8():
    decoded = decode_bytes("naïve 👍\n".encode())

    assert decoded == DecodedText(text="naïve 👍\n", encoding="UTF-8", truncated_chars=0)


def test_decode_ascii_is_utf8():
    assert decode_bytes(b"plain ascii").encoding == "UTF-8"


def test_decode_utf8_with_bom():
    decoded = decode_bytes(b"\xef\xbb\xbfcaf\xc3\xa9\r\n")

    assert decoded.text == "café\n"
    assert decoded.encoding == "UTF-8 with byte-order mark"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_decode_utf16_with_bom(codec):
    text = "Grüße, 世界 👍\r\nline two"
    bom = "\ufeff".encode(codec)

    decoded = decode_bytes(bom + text.encode(codec))

    assert decoded.text == "Grüße, 世界 👍\nline two"
    assert decoded.encoding == "UTF-16 with byte-order mark"


def test_decode_utf16_le_bom_ascii():
    # ASCII text in UTF-16 is half NUL bytes, which the mark makes acceptable.
    decoded = decode_bytes(b"\xff\xfe" + "hello\n".encode("utf-16-le"))

    assert decoded.text == "hello\n"


def test_decode_utf32_with_bom():
    decoded = decode_bytes("\ufeffab👍".encode("utf-32-le"))

    assert decoded.text == "ab👍"
    assert decoded.encoding == "UTF-32 with byte-order mark"


def test_decode_utf8_bom_invalid_rejected():
    with pytest.raises(TextError, match="not valid UTF-8"):
        decode_bytes(b"\xef\xbb\xbfcaf\xe9")


def test_decode_utf16_odd_length_rejected():
    data = b"\xff\xfe" + "hello".encode("utf-16-le") + b"h"

    with pytest.raises(TextError, match="not valid UTF-16"):
        decode_bytes(data)


def test_decode_short_cp1252():
    decoded = decode_bytes(b"it\x92s caf\xe9")

    assert decoded.text == "it’s café"
    assert decoded.encoding == "Windows-1252 (detected)"


def test_decode_cp1252_paragraph():
    decoded = decode_bytes(CP1252_PARAGRAPH.encode("cp1252"))

    assert decoded.text == CP1252_PARAGRAPH
    assert decoded.encoding == "Windows-1252 (detected)"


def test_decode_cp1252_german():
    text = "Grüße aus Köln – die Straße über die Brücke. Das Gemüse kostet 3 €."

    decoded = decode_bytes(text.encode("cp1252"))

    assert decoded.text == text
    assert decoded.encoding == "Windows-1252 (detected)"


def test_decode_cp1252_crlf_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("Première ligne\r\nDeuxième ligne – fin\r\n".encode("cp1252"))

    decoded = decode_bytes(path.read_bytes())

    assert decoded.text == "Première ligne\nDeuxième ligne – fin\n"
    assert decoded.encoding == "Windows-1252 (detected)"


def test_decode_cp1251_short():
    decoded = decode_bytes("Привет мир".encode("cp1251"))

    assert decoded.text == "Привет мир"
    assert decoded.encoding == "Windows-1251 (detected)"


def test_decode_crlf_file(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree")

    decoded = decode_bytes(path.read_bytes())

    assert decoded.text == "one\ntwo\nthree"
    assert decoded.encoding == "UTF-8"


def test_decode_lone_cr_file(tmp_path):
    path = tmp_path / "old_mac.txt"
    path.write_bytes(b"one\rtwo\rthree\r")

    assert decode_bytes(path.read_bytes()).text == "one\ntwo\nthree\n"


def test_decode_emoji_one_char_each():
    decoded = decode_bytes("hi👍hi👍".encode())

    assert decoded.text == "hi👍hi👍"
    assert len(decoded.text) == 6
    assert decoded.text.count("👍") == 2


def test_decode_keeps_control_chars():
    data = b"bell\x07 escape\x1b[0m form\x0cfeed\x7f"

    assert decode_bytes(data).text == "bell\x07 escape\x1b[0m form\x0cfeed\x7f"


# --- decode_bytes: rejected input


def test_decode_empty_rejected():
    with pytest.raises(TextError, match=r"^The text is empty: paste some text or upload a file\.$"):
        decode_bytes(b"")


def test_decode_only_bom_is_empty():
    with pytest.raises(TextError, match="The text is empty"):
        decode_bytes(b"\xef\xbb\xbf")


def test_decode_nul_bytes_rejected():
    with pytest.raises(TextError) as raised:
        decode_bytes(b"abc\x00def")

    message = str(raised.value)
    assert "not text" in message
    assert "NUL" in message
    assert "plain-text file such as .txt, .md, .py, .csv" in message


def test_decode_png_rejected():
    with pytest.raises(TextError) as raised:
        decode_bytes(png_bytes())

    message = str(raised.value)
    assert "PNG image, not text" in message
    assert "Upload a plain-text file such as .txt, .md, .py, .csv." in message


def test_decode_zip_rejected():
    with pytest.raises(TextError) as raised:
        decode_bytes(zip_bytes())

    message = str(raised.value)
    assert "zip archive" in message
    assert "not text" in message
    assert ".txt" in message


def test_decode_binary_without_nul_rejected():
    # Every byte but NUL, so only the detector can tell that this is not text.
    data = bytes(range(1, 256)) * 4

    with pytest.raises(TextError, match="not text"):
        decode_bytes(data)


def test_decode_over_size_limit_rejected():
    limits = Limits(max_upload_bytes=2**20)  # 1 MB as Gradio counts it

    with pytest.raises(TextError) as raised:
        decode_bytes(b"a" * (2**20 + 1), limits)

    assert "1 MB" in str(raised.value)
    assert "upload limit" in str(raised.value)


def test_decode_at_size_limit_accepted():
    limits = Limits(max_upload_bytes=1_000)

    assert len(decode_bytes(b"ab" * 500, limits).text) == 1_000


def test_decode_truncates_long_text():
    limits = Limits(max_text_chars=5)

    decoded = decode_bytes("ab👍\r\ncdefgh".encode(), limits)

    assert decoded.text == "ab👍\nc"
    assert decoded.truncated_chars == 5


# --- read_text


def test_read_pasted_text():
    decoded = read_text("\ufeffline one\r\nline two\r")

    assert decoded == DecodedText(text="line one\nline two\n", encoding="pasted text", truncated_chars=0)


def test_read_pasted_empty_rejected():
    with pytest.raises(TextError, match="The text is empty"):
        read_text("")


def test_read_pasted_truncated():
    decoded = read_text("abcdefgh", Limits(max_text_chars=5))

    assert decoded.text == "abcde"
    assert decoded.truncated_chars == 3


def test_read_bytes_uses_decoder():
    decoded = read_text(b"it\x92s caf\xe9")

    assert decoded.text == "it’s café"
    assert decoded.encoding == "Windows-1252 (detected)"


def test_read_pasted_markup_kept_literally():
    text = "<b>bold</b> **md** <script>alert(1)</script>"

    assert read_text(text).text == text


# --- display_char and describe_char


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        (" ", "␣"),
        ("\n", "⏎"),
        ("\t", "⇥"),
        ("a", "a"),
        ("é", "é"),
        ("👍", "👍"),
        ("<", "<"),
        ("\x00", "U+0000"),  # Cc
        ("\x07", "U+0007"),  # Cc
        ("\r", "U+000D"),  # Cc
        ("\x7f", "U+007F"),  # Cc
        ("\u00a0", "U+00A0"),  # Zs: no-break space
        ("\u3000", "U+3000"),  # Zs: ideographic space
        ("\u200b", "U+200B"),  # Cf: zero width space
        ("\ufeff", "U+FEFF"),  # Cf: byte-order mark inside the text
        ("\u2028", "U+2028"),  # Zl
        ("\u2029", "U+2029"),  # Zp
        ("\ue000", "U+E000"),  # Co
        ("\U000f0000", "U+F0000"),  # Co, outside the Basic Multilingual Plane
        ("\u0378", "U+0378"),  # Cn: unassigned
        ("\ud800", "U+D800"),  # Cs: lone surrogate
    ],
)
def test_display_char(char, shown):
    assert display_char(char) == shown


def test_display_char_other():
    assert display_char(OTHER) == "other"


def test_display_char_rejects_several_chars():
    with pytest.raises(ValueError, match="one character"):
        display_char("ab")


@pytest.mark.parametrize(
    ("char", "name"),
    [
        (" ", "space"),
        ("\n", "newline"),
        ("\t", "tab"),
        ("a", "LATIN SMALL LETTER A"),
        ("👍", "THUMBS UP SIGN"),
        ("\u00a0", "NO-BREAK SPACE"),
        ("\x07", "U+0007"),
        ("\ue000", "U+E000"),
    ],
)
def test_describe_char(char, name):
    assert describe_char(char) == name


def test_describe_char_other():
    assert describe_char(OTHER).startswith("other")

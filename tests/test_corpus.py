import itertools
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from charembed.corpus import (
    OTHER,
    Corpus,
    ReferenceLosses,
    bigram_counts,
    build_corpus,
    build_vocab,
    load_corpus,
    reference_losses,
)
from charembed.settings import Limits, TrainingSettings
from charembed.text import TextError

REPO_ROOT = Path(__file__).resolve().parents[1]
WHOLE_TEXT = TrainingSettings()  # train_chars = 0, vocab_mode = "text"


def random_text(length: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    chars = "ab c\nde\tfé👍’"
    return "".join(rng.choice(chars) for _ in range(length))


def json_source() -> str:
    with open(json.__file__, encoding="utf-8") as file:
        return file.read()


# --- build_vocab, "text" mode


def test_vocab_text_mode_sorted():
    vocab = build_vocab("banana")

    assert vocab.itos == ["a", "b", "n"]
    assert vocab.stoi == {"a": 0, "b": 1, "n": 2}
    assert vocab.vocab_size == 3
    assert vocab.mode == "text"
    assert vocab.merged_chars == 0


def test_vocab_orders_by_code_point():
    vocab = build_vocab("👍é a\nZ")

    assert vocab.itos == ["\n", " ", "Z", "a", "é", "👍"]


def test_vocab_emoji_one_entry():
    vocab = build_vocab("hi👍hi👍")

    assert vocab.itos == ["h", "i", "👍"]
    assert vocab.encode("hi👍hi👍").tolist() == [0, 1, 2, 0, 1, 2]


def test_vocab_unknown_mode_rejected():
    with pytest.raises(ValueError, match="vocabulary mode"):
        build_vocab("abc", mode="bytes")


# --- build_vocab, merge limit


def test_vocab_merges_rarest():
    # Frequencies: a 5, b 4, c 3, d 2, e 1, f 1.
    text = "aaaaabbbbcccddef"

    vocab = build_vocab(text, limits=Limits(max_vocab_size=4))

    assert vocab.itos == ["a", "b", "c", OTHER]
    assert vocab.vocab_size == 4
    assert vocab.merged_chars == 3
    assert vocab.stoi["d"] == 3
    assert vocab.stoi["e"] == 3
    assert vocab.stoi["f"] == 3
    assert vocab.stoi[OTHER] == 3


def test_vocab_merge_ties_by_code_point():
    # All four characters occur twice, so the lowest code points are kept.
    vocab = build_vocab("ddccbbaa", limits=Limits(max_vocab_size=3))

    assert vocab.itos == ["a", "b", OTHER]
    assert vocab.merged_chars == 2


def test_vocab_at_limit_not_merged():
    vocab = build_vocab("abcd", limits=Limits(max_vocab_size=4))

    assert vocab.itos == ["a", "b", "c", "d"]
    assert vocab.merged_chars == 0


def test_encode_merged_chars_to_other():
    vocab = build_vocab("aaaaabbbbcccddef", limits=Limits(max_vocab_size=4))

    ids = vocab.encode("adbf")

    assert ids.tolist() == [0, 3, 1, 3]


def test_corpus_merged_char_counts():
    corpus = build_corpus("aaaaabbbbcccddef", WHOLE_TEXT, limits=Limits(max_vocab_size=4))

    assert corpus.char_counts.tolist() == [5, 4, 3, 4]
    assert corpus.vocab.merged_chars == 3


# --- build_vocab, "ascii126" mode


def test_vocab_ascii126_fixed():
    vocab = build_vocab("hello", mode="ascii126")

    assert vocab.vocab_size == 126
    assert vocab.mode == "ascii126"
    assert vocab.itos[0] == "\x00"
    assert vocab.itos[65] == "A"
    assert vocab.itos[125] == "}"
    assert vocab.encode("hello").tolist() == [ord(char) for char in "hello"]


def test_vocab_ascii126_rejects_outside():
    with pytest.raises(TextError) as raised:
        build_vocab("café ~ 👍\u00a0", mode="ascii126")

    message = str(raised.value)
    assert "é, ~, 👍, U+00A0" in message  # in order of first occurrence, drawn visibly
    assert "4 distinct characters" in message
    assert '"text" vocabulary mode' in message


def test_vocab_ascii126_names_ten():
    outside = "".join(chr(0x3B1 + i) for i in range(15))  # U+03B1 to U+03BF, Greek letters

    with pytest.raises(TextError) as raised:
        build_vocab("abc " + outside, mode="ascii126")

    message = str(raised.value)
    assert ", ".join(outside[:10]) in message
    assert outside[10] not in message
    assert "and 5 more" in message


def test_encode_ascii126_unknown_rejected():
    vocab = build_vocab("abc", mode="ascii126")

    with pytest.raises(TextError, match='"text" vocabulary mode'):
        vocab.encode("a~b")


# --- Vocab.encode and Vocab.decode


def test_encode_matches_loop():
    text = random_text(5_000)
    vocab = build_vocab(text)

    ids = vocab.encode(text)

    assert ids.dtype == np.int64
    assert ids.shape == (len(text),)
    assert ids.tolist() == [vocab.stoi[char] for char in text]


def test_encode_unknown_char_rejected():
    vocab = build_vocab("abc")

    with pytest.raises(TextError) as raised:
        vocab.encode("abz")

    assert "z (LATIN SMALL LETTER Z)" in str(raised.value)


def test_encode_unknown_below_max_rejected():
    # "b" lies inside the lookup table's range but has no id.
    vocab = build_vocab("ac")

    with pytest.raises(TextError, match="LATIN SMALL LETTER B"):
        vocab.encode("b")


def test_encode_empty():
    assert build_vocab("abc").encode("").tolist() == []


def test_decode_round_trip():
    text = "hi👍 é\n"
    vocab = build_vocab(text)

    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.decode(torch.tensor([0, 1])) == vocab.itos[0] + vocab.itos[1]
    assert vocab.decode([]) == ""


def test_decode_out_of_range_rejected():
    vocab = build_vocab("abc")

    with pytest.raises(ValueError, match=r"Ids must be in 0 \.\. 2"):
        vocab.decode([0, 3])


# --- bigram_counts


def test_bigram_counts_hand_worked():
    # "abcab": pairs ab, bc, ca, ab.
    ids = np.array([0, 1, 2, 0, 1])

    counts = bigram_counts(ids, 3)

    expected = torch.tensor(
        [
            [0.0, 2.0, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0],
        ],
        dtype=torch.float64,
    )
    assert counts.dtype == torch.float64
    assert torch.equal(counts, expected)


def test_bigram_counts_match_loop():
    text = random_text(3_000, seed=1)
    vocab = build_vocab(text)
    ids = vocab.encode(text)

    counts = bigram_counts(ids, vocab.vocab_size)

    expected = torch.zeros(vocab.vocab_size, vocab.vocab_size, dtype=torch.float64)
    for current, following in itertools.pairwise(text):
        expected[vocab.stoi[current], vocab.stoi[following]] += 1
    assert torch.equal(counts, expected)
    assert counts.sum().item() == len(text) - 1


@pytest.mark.parametrize("ids", [[], [1]])
def test_bigram_counts_no_pairs(ids):
    counts = bigram_counts(np.array(ids, dtype=np.int64), 2)

    assert counts.shape == (2, 2)
    assert counts.sum().item() == 0


# --- reference_losses


def test_reference_losses_alternating():
    # "abab...": the next character is fully determined by the current one.
    counts = bigram_counts(build_vocab("ab").encode("ab" * 50), 2)

    losses = reference_losses(counts)

    assert losses.uniform == pytest.approx(math.log(2))
    assert losses.unigram == pytest.approx(math.log(2), rel=1e-3)  # 50 b's and 49 a's follow
    assert losses.bigram == 0.0


def test_reference_losses_hand_worked():
    # Pairs a->a once, a->b once, b->a twice: next is a 3 times, b once.
    counts = torch.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)

    losses = reference_losses(counts)

    assert losses == pytest.approx(
        ReferenceLosses(
            uniform=math.log(2),
            unigram=-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)),
            bigram=0.5 * math.log(2),  # a is followed by a or b equally often, b always by a
        )
    )


def test_reference_losses_bigram_is_best_cross_entropy():
    # The counts' own conditional frequencies, scored position by position with PyTorch,
    # must give exactly the bigram floor.
    text = random_text(2_000, seed=2)
    vocab = build_vocab(text)
    ids = torch.from_numpy(vocab.encode(text))
    counts = bigram_counts(ids.numpy(), vocab.vocab_size)

    log_probs = torch.log(counts / counts.sum(dim=1, keepdim=True))  # (V, V), -inf where unseen
    per_position = F.nll_loss(log_probs[ids[:-1]], ids[1:])

    losses = reference_losses(counts)
    assert losses.bigram == pytest.approx(per_position.item(), rel=1e-12)
    assert losses.bigram < losses.unigram < losses.uniform


def test_reference_losses_empty_rejected():
    with pytest.raises(ValueError, match="no pairs"):
        reference_losses(torch.zeros(3, 3, dtype=torch.float64))


# --- build_corpus


def test_corpus_whole_text():
    corpus = build_corpus("abcab", WHOLE_TEXT)

    assert isinstance(corpus, Corpus)
    assert corpus.text == "abcab"
    assert corpus.encoding == "pasted text"
    assert corpus.ids.tolist() == [0, 1, 2, 0, 1]
    assert corpus.train_pairs == 4
    assert torch.equal(corpus.counts, corpus.text_counts)
    assert corpus.char_counts.tolist() == [2, 2, 1]
    assert corpus.references == reference_losses(corpus.counts)


def test_corpus_training_span():
    corpus = build_corpus("abcabcab", TrainingSettings(train_chars=3))

    # First 3 characters with their successors: ab, bc, ca.
    assert corpus.train_pairs == 3
    assert corpus.counts[0, 1].item() == 1
    assert corpus.counts[1, 2].item() == 1
    assert corpus.counts[2, 0].item() == 1
    assert corpus.text_counts.sum().item() == 7


def test_corpus_training_span_clamped():
    corpus = build_corpus("abc", TrainingSettings(train_chars=100))

    assert corpus.train_pairs == 2
    assert torch.equal(corpus.counts, corpus.text_counts)


def test_corpus_notebook_span():
    text = json_source()
    assert text.startswith('r"""JSON')

    corpus = build_corpus(text, TrainingSettings.notebook())

    # The notebook's batch: inputs r"""J, targets """JS.
    quote, r, j, s = ord('"'), ord("r"), ord("J"), ord("S")
    assert corpus.vocab.mode == "ascii126"
    assert corpus.ids[:6].tolist() == [r, quote, quote, quote, j, s]
    assert corpus.train_pairs == 5
    assert corpus.counts[r, quote].item() == 1
    assert corpus.counts[quote, quote].item() == 2
    assert corpus.counts[quote, j].item() == 1
    assert corpus.counts[j, s].item() == 1
    assert corpus.counts.sum().item() == 5
    assert corpus.text_counts.sum().item() == len(text) - 1
    assert corpus.references.uniform == pytest.approx(math.log(126))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The text is empty: paste some text or upload a file."),
        ("a", "only one character"),
        ("aaaa", "at least two different characters"),
        ("    ", "at least two different characters"),
        ("\n\n\n", "at least two different characters"),
    ],
)
def test_corpus_too_little_text_rejected(text, message):
    with pytest.raises(TextError, match=message):
        build_corpus(text, WHOLE_TEXT)


def test_corpus_whitespace_only_accepted():
    corpus = build_corpus("  \n ", WHOLE_TEXT)

    assert corpus.vocab.itos == ["\n", " "]
    assert corpus.train_pairs == 3


def test_corpus_ascii126_rejects_outside():
    with pytest.raises(TextError, match='"text" vocabulary mode'):
        build_corpus("naïve", TrainingSettings(vocab_mode="ascii126"))


def test_corpus_keeps_control_chars():
    corpus = build_corpus("a\x07b\x1bc\x00", WHOLE_TEXT)

    assert corpus.vocab.itos == ["\x00", "\x07", "\x1b", "a", "b", "c"]


# --- load_corpus


def test_load_corpus_from_bytes():
    corpus = load_corpus(b"it\x92s caf\xe9", WHOLE_TEXT)

    assert corpus.text == "it’s café"
    assert corpus.encoding == "Windows-1252 (detected)"
    assert corpus.truncated_chars == 0
    assert "’" in corpus.vocab.itos


def test_load_corpus_reports_truncation():
    corpus = load_corpus("abcdefgh", WHOLE_TEXT, Limits(max_text_chars=5))

    assert corpus.text == "abcde"
    assert corpus.truncated_chars == 3


def test_load_corpus_emoji_vectorised():
    corpus = load_corpus("hi👍hi👍".encode("utf-16"), WHOLE_TEXT)

    assert corpus.vocab.itos == ["h", "i", "👍"]
    assert corpus.ids.tolist() == [0, 1, 2, 0, 1, 2]
    assert corpus.references.bigram == 0.0


# --- dependencies


def test_corpus_import_without_gradio():
    code = "import sys, charembed.corpus; print('gradio' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"

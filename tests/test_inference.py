import itertools

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from charembed.corpus import build_corpus
from charembed.inference import MAX_SAMPLE_LENGTH, predict_next, query_id, sample
from charembed.settings import Limits, TrainingSettings
from charembed.text import TextError
from charembed.training import train

TEXT = "hello world, hello there"
SETTINGS = TrainingSettings(epochs=100, embedding_dim=2)


@pytest.fixture(scope="module")
def trained():
    """Return (model, corpus) for TEXT after a short Adam run."""
    corpus = build_corpus(TEXT, SETTINGS)
    return train(corpus.counts, SETTINGS).model, corpus


def follower_fractions(text: str, char: str) -> dict[str, float]:
    """Count by hand which characters follow `char` in `text`, as fractions."""
    followers = [after for before, after in itertools.pairwise(text) if before == char]
    return {after: followers.count(after) / len(followers) for after in set(followers)}


# --- predict_next


def test_probs_sum_to_one(trained):
    model, corpus = trained

    prediction = predict_next(model, corpus, "l")

    assert prediction.probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert prediction.probs.shape == (corpus.vocab.vocab_size,)


def test_probs_are_softmax_of_logits(trained):
    model, corpus = trained
    char_id = corpus.vocab.stoi["o"]

    prediction = predict_next(model, corpus, "o")

    with torch.no_grad():
        expected = F.softmax(model(torch.tensor([char_id])), dim=-1)[0].numpy()
    np.testing.assert_allclose(prediction.probs, expected, rtol=1e-6)


def test_predicted_id_is_argmax(trained):
    model, corpus = trained

    prediction = predict_next(model, corpus, "h")

    assert prediction.predicted_id == int(np.argmax(prediction.probs))
    assert prediction.char == "h"
    assert prediction.char_id == corpus.vocab.stoi["h"]


@pytest.mark.parametrize("char", ["l", "h", " ", "o", "e"])
def test_actual_matches_text_counts(trained, char):
    model, corpus = trained
    expected = np.zeros(corpus.vocab.vocab_size)
    for after, fraction in follower_fractions(TEXT, char).items():
        expected[corpus.vocab.stoi[after]] = fraction

    prediction = predict_next(model, corpus, char)

    np.testing.assert_allclose(prediction.actual, expected)


def test_occurrences_counts_followed_chars(trained):
    model, corpus = trained

    prediction = predict_next(model, corpus, "l")

    assert prediction.occurrences == 5  # he(ll)o wor(l)d he(ll)o


def test_actual_from_whole_text_not_span():
    settings = TrainingSettings(epochs=5, train_chars=3)
    corpus = build_corpus("abcabd", settings)
    model = train(corpus.counts, settings).model

    prediction = predict_next(model, corpus, "b")

    assert prediction.occurrences == 2
    np.testing.assert_allclose(prediction.actual, [0.0, 0.0, 0.5, 0.5])


def test_last_char_only_has_no_followers():
    settings = TrainingSettings(epochs=5)
    corpus = build_corpus("abab!", settings)
    model = train(corpus.counts, settings).model

    prediction = predict_next(model, corpus, "!")

    assert prediction.occurrences == 0
    assert np.array_equal(prediction.actual, np.zeros(3))


def test_top_ids_sorted(trained):
    model, corpus = trained
    prediction = predict_next(model, corpus, "l")

    top = prediction.top_ids(5)

    assert len(top) == 5
    assert top[0] == prediction.predicted_id
    assert all(prediction.probs[a] >= prediction.probs[b] for a, b in itertools.pairwise(top))
    assert prediction.probs[top[-1]] >= np.delete(prediction.probs, top).max()


def test_top_ids_clamped_to_vocab(trained):
    model, corpus = trained
    prediction = predict_next(model, corpus, "l")

    top = prediction.top_ids(1000)

    assert sorted(top.tolist()) == list(range(corpus.vocab.vocab_size))


# --- query_id


@pytest.mark.parametrize(
    ("char", "message"),
    [
        ("", "Type one character"),
        ("lo", "exactly one character, not 2"),
        ("z", "does not occur in the text"),
        ("\t", "does not occur in the text"),
    ],
)
def test_query_rejected(trained, char, message):
    _, corpus = trained

    with pytest.raises(TextError, match=message):
        query_id(corpus, char)


def test_query_ascii126_unseen_rejected():
    corpus = build_corpus(TEXT, TrainingSettings(vocab_mode="ascii126"))
    assert corpus.vocab.stoi["z"] == ord("z")  # a class of the 126, but not in the text

    with pytest.raises(TextError, match="does not occur in the text"):
        query_id(corpus, "z")


def test_query_ascii126_id_is_code_point():
    corpus = build_corpus(TEXT, TrainingSettings(vocab_mode="ascii126"))

    assert query_id(corpus, "w") == ord("w")


def test_query_emoji():
    settings = TrainingSettings(epochs=20)
    corpus = build_corpus("hi👍hi👍", settings)
    model = train(corpus.counts, settings).model

    prediction = predict_next(model, corpus, "👍")

    assert query_id(corpus, "👍") == 2
    assert prediction.occurrences == 1
    np.testing.assert_allclose(prediction.actual, [1.0, 0.0, 0.0])


def test_query_merged_char_is_other():
    corpus = build_corpus("aaaabbbbccd", SETTINGS, limits=Limits(max_vocab_size=3))

    assert query_id(corpus, "d") == corpus.vocab.vocab_size - 1


# --- sample


def test_sample_same_seed_same_text(trained):
    model, corpus = trained

    first = sample(model, corpus, "h", 50, seed=3)
    second = sample(model, corpus, "h", 50, seed=3)

    assert first == second


def test_sample_other_seed_other_text(trained):
    model, corpus = trained

    first = sample(model, corpus, "h", 50, seed=3)
    second = sample(model, corpus, "h", 50, seed=4)

    assert first != second


def test_sample_shape(trained):
    model, corpus = trained

    text = sample(model, corpus, "w", 40, temperature=1.5, seed=1)

    assert text[0] == "w"
    assert len(text) == 41
    assert set(text) <= set(corpus.vocab.itos)


def test_sample_emoji_start():
    settings = TrainingSettings(epochs=20)
    corpus = build_corpus("hi👍hi👍", settings)
    model = train(corpus.counts, settings).model

    text = sample(model, corpus, "👍", 10)

    assert text.startswith("👍")
    assert len(text) == 11


def test_sample_low_temperature_is_greedy(trained):
    model, corpus = trained
    greedy = "h"
    for _ in range(10):
        greedy += corpus.vocab.itos[predict_next(model, corpus, greedy[-1]).predicted_id]

    text = sample(model, corpus, "h", 10, temperature=1e-4, seed=5)

    assert text == greedy


def test_sample_max_length(trained):
    model, corpus = trained

    assert len(sample(model, corpus, "h", MAX_SAMPLE_LENGTH)) == MAX_SAMPLE_LENGTH + 1


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_sample_bad_temperature_rejected(trained, temperature):
    model, corpus = trained

    with pytest.raises(ValueError, match="Temperature"):
        sample(model, corpus, "h", 10, temperature=temperature)


@pytest.mark.parametrize("length", [0, -3, MAX_SAMPLE_LENGTH + 1])
def test_sample_bad_length_rejected(trained, length):
    model, corpus = trained

    with pytest.raises(ValueError, match="Length"):
        sample(model, corpus, "h", length)


def test_sample_bad_start_rejected(trained):
    model, corpus = trained

    with pytest.raises(TextError, match="does not occur"):
        sample(model, corpus, "z", 10)


def test_query_stand_in_means_its_char():
    settings = TrainingSettings(epochs=20)
    corpus = build_corpus("a b\tc\na b\tc\n", settings)
    model = train(corpus.counts, settings).model

    for shown, char in [("␣", " "), ("⏎", "\n"), ("⇥", "\t")]:
        assert predict_next(model, corpus, shown).char == char
        assert query_id(corpus, shown) == corpus.vocab.stoi[char]


def test_query_literal_stand_in_wins():
    settings = TrainingSettings(epochs=20)
    corpus = build_corpus("a⏎a\na", settings)  # the text contains the stand-in itself

    assert query_id(corpus, "⏎") == corpus.vocab.stoi["⏎"]

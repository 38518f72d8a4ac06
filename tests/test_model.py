import random
import threading

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from charembed.corpus import bigram_counts
from charembed.model import CharModel


def random_ids(length: int, vocab_size: int, seed: int) -> torch.Tensor:
    """Return (length,) int64 ids in which only some of the vocab_size ids occur."""
    rng = random.Random(seed)
    used = rng.sample(range(vocab_size), k=max(2, vocab_size // 2))
    return torch.tensor([rng.choice(used) for _ in range(length)])


def notebook_layers(vocab_size: int, embedding_dim: int, seed: int) -> tuple[nn.Linear, nn.Linear]:
    """Build the notebook's two layers, in its order, after seeding the global generator."""
    torch.manual_seed(seed)
    layer_1 = nn.Linear(vocab_size, embedding_dim, bias=False)
    layer_2 = nn.Linear(embedding_dim, vocab_size, bias=False)
    return layer_1, layer_2


def relative_error(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)


CASES = [(126, 1, 0), (126, 1, 7), (5, 2, 3), (40, 3, 12345)]  # (vocab_size, embedding_dim, seed)


# --- initialisation


@pytest.mark.parametrize(("vocab_size", "embedding_dim", "seed"), CASES)
def test_init_embedding_is_layer_1(vocab_size, embedding_dim, seed):
    layer_1, _ = notebook_layers(vocab_size, embedding_dim, seed)

    model = CharModel(vocab_size, embedding_dim, seed=seed)

    assert torch.equal(model.embedding.weight.detach(), layer_1.weight.detach().T)


@pytest.mark.parametrize(("vocab_size", "embedding_dim", "seed"), CASES)
def test_init_output_is_layer_2(vocab_size, embedding_dim, seed):
    _, layer_2 = notebook_layers(vocab_size, embedding_dim, seed)

    model = CharModel(vocab_size, embedding_dim, seed=seed)

    assert torch.equal(model.output.weight.detach(), layer_2.weight.detach())


def test_init_shapes():
    model = CharModel(7, 3, seed=0)

    assert model.vocab_size == 7
    assert model.embedding_dim == 3
    assert model.embedding.weight.shape == (7, 3)
    assert model.output.weight.shape == (7, 3)
    assert model.output.bias is None


def test_init_seeds_differ():
    first = CharModel(20, 2, seed=0)
    second = CharModel(20, 2, seed=1)

    assert not torch.equal(first.embedding.weight, second.embedding.weight)


def test_init_leaves_global_generator():
    # A seeded model must not change the random numbers that other code draws afterwards.
    torch.manual_seed(5)
    expected = torch.rand(3)

    torch.manual_seed(5)
    CharModel(10, 2, seed=1)
    drawn = torch.rand(3)

    assert torch.equal(drawn, expected)


def test_init_thread_safe():
    # Gradio runs each session's handlers in worker threads, so models are built concurrently.
    expected = {seed: CharModel(126, 3, seed=seed).embedding.weight.detach().clone() for seed in range(4)}
    wrong = []

    def build_many(seed: int) -> None:
        for _ in range(300):
            weight = CharModel(126, 3, seed=seed).embedding.weight.detach()
            if not torch.equal(weight, expected[seed]):
                wrong.append(seed)

    threads = [threading.Thread(target=build_many, args=(seed,)) for seed in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not wrong, f"{len(wrong)} of 1200 models got another seed's weights"


# --- forward


@pytest.mark.parametrize(("vocab_size", "embedding_dim", "seed"), CASES)
def test_forward_matches_one_hot_layers(vocab_size, embedding_dim, seed):
    layer_1, layer_2 = notebook_layers(vocab_size, embedding_dim, seed)
    model = CharModel(vocab_size, embedding_dim, seed=seed)
    ids = random_ids(30, vocab_size, seed)

    with torch.no_grad():
        expected = layer_2(layer_1(F.one_hot(ids, vocab_size).float()))  # (N, V)
        logits = model(ids)  # (N, V)

    torch.testing.assert_close(logits, expected, rtol=1e-6, atol=1e-7)


def test_forward_keeps_batch_shape():
    model = CharModel(9, 2, seed=0)

    logits = model(torch.zeros(4, 5, dtype=torch.int64))

    assert logits.shape == (4, 5, 9)


def test_all_logits_rows_match_forward():
    model = CharModel(6, 2, seed=3)

    with torch.no_grad():
        expected = model(torch.arange(6))  # (V, V)
        logits = model.all_logits()

    torch.testing.assert_close(logits, expected)


def test_next_char_probs_is_softmax():
    model = CharModel(6, 2, seed=3)

    probs = model.next_char_probs(4)

    with torch.no_grad():
        expected = F.softmax(model(torch.tensor([4])), dim=-1)[0]
    torch.testing.assert_close(probs, expected)


# --- count_loss


@pytest.mark.parametrize(
    ("length", "vocab_size", "embedding_dim", "seed"),
    [(2, 3, 1, 0), (50, 5, 1, 1), (400, 30, 2, 2), (1000, 126, 1, 3), (2000, 90, 3, 4)],
)
def test_count_loss_matches_per_position(length, vocab_size, embedding_dim, seed):
    model = CharModel(vocab_size, embedding_dim, seed=seed)
    ids = random_ids(length, vocab_size, seed)
    counts = bigram_counts(ids.numpy(), vocab_size)

    with torch.no_grad():
        expected = F.cross_entropy(model(ids[:-1]), ids[1:]).item()
        loss = model.count_loss(counts).item()

    assert relative_error(loss, expected) <= 1e-5


def test_count_loss_trained_weights():
    # Large weights make the softmax peaked, where rounding differs most between the two sums.
    model = CharModel(4, 2, seed=0)
    with torch.no_grad():
        model.embedding.weight.mul_(30)
        model.output.weight.mul_(30)
    ids = torch.tensor([0, 1, 2, 3, 0, 1, 0, 2, 2, 3, 1])
    counts = bigram_counts(ids.numpy(), 4)

    with torch.no_grad():
        expected = F.cross_entropy(model(ids[:-1]), ids[1:]).item()
        loss = model.count_loss(counts).item()

    assert relative_error(loss, expected) <= 1e-5

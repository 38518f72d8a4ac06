"""Session: what one browser session owns and how it draws it, without Gradio."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charembed.inference import prediction_map
from charembed.session import ZEROED_LABEL, Session
from charembed.settings import TrainingSettings

JSON_TEXT = open(json.__file__).read()


def trained_session(text: str, settings: TrainingSettings) -> Session:
    session = Session()
    run_id = session.start_run(session.build_corpus(text, settings), settings)
    for _ in session.live(run_id):
        pass
    return session


@pytest.mark.parametrize("dim", [1, 2])
def test_orientation_same_for_two_seeds(dim):
    embeddings = []
    for seed in (0, 1):
        session = trained_session(JSON_TEXT, TrainingSettings(embedding_dim=dim, seed=seed, epochs=800))
        embedding, _ = session.oriented_weights()
        reference = int(session.corpus.char_counts.argmax())
        assert (embedding[reference] >= 0).all()
        embeddings.append(embedding)

    # the two runs agree in direction on every axis, up to the rotation freedom of d = 2
    if dim == 1:
        assert np.corrcoef(embeddings[0][:, 0], embeddings[1][:, 0])[0, 1] > 0.9


def test_orientation_keeps_logits():
    session = trained_session("hello world, hello moon", TrainingSettings(embedding_dim=2, epochs=200))
    embedding, output = session.oriented_weights()
    model = session.trainer.model

    logits = model.all_logits().numpy()
    assert np.allclose(embedding @ output.T, logits, atol=1e-6)


def test_band_matches_model_argmax():
    session = trained_session(JSON_TEXT, TrainingSettings(epochs=400))
    embedding, output = session.oriented_weights()
    model = session.trainer.model

    predicted, probability = prediction_map(output, embedding)  # each character at its own place

    for char_id in range(0, session.corpus.vocab.vocab_size, 7):
        probs = model.next_char_probs(char_id).numpy()
        assert predicted[char_id] == probs.argmax()
        assert probability[char_id] == pytest.approx(probs.max(), rel=1e-4)


def test_band_has_two_predictions_at_d1():
    session = trained_session(JSON_TEXT, TrainingSettings(epochs=400))
    _, output = session.oriented_weights()
    points = np.linspace(-5, 5, 201, dtype=np.float32)[:, None]  # (201, 1), both signs

    predicted, _ = prediction_map(output, points)

    assert len(set(predicted[points[:, 0] > 0].tolist())) == 1
    assert len(set(predicted[points[:, 0] < 0].tolist())) == 1


def test_notebook_preset_drops_below_zeroed():
    session = Session()
    run_id = session.start_notebook_run(JSON_TEXT)
    for _ in session.live(run_id):
        pass

    _, accumulated = session.trainer.loss_history()
    zeroed = session.previous[0]
    assert zeroed.label == ZEROED_LABEL
    assert session.trainer.settings == TrainingSettings.notebook(accumulate_grad=True)
    assert accumulated[-1] < zeroed.losses[-1] - 1.0
    assert abs(accumulated[0] - np.log(126)) < 0.05


def test_untrained_flags_chars_outside_span():
    session = trained_session(JSON_TEXT, TrainingSettings.notebook())
    untrained = session.untrained()
    itos = session.corpus.vocab.itos

    assert not untrained[itos.index("J")]
    assert untrained[itos.index("a")]
    assert untrained.sum() == 126 - 3  # the span r"""J has inputs r, ", J


def test_stop_keeps_weights_and_resume_continues():
    settings = TrainingSettings(epochs=50_000, optimizer="sgd", learning_rate=0.001)
    session = Session()
    run_id = session.start_run(session.build_corpus(JSON_TEXT, settings), settings)
    for count, _ in enumerate(session.live(run_id)):
        if count == 2:
            break
    weights = session.trainer.model.embedding.weight.clone()
    epoch = session.trainer.epoch

    assert session.resume_run() > run_id
    assert torch.equal(session.trainer.model.embedding.weight, weights)
    snapshot = session.step_run()
    assert snapshot.epoch == epoch + 1


def test_release_drops_model():
    session = trained_session("abcabc", TrainingSettings(epochs=10))
    run_id = session.run_id
    session.release()
    assert session.trainer is None
    assert session.run_id > run_id


def test_replay_last_frame_equals_final_model():
    session = trained_session(JSON_TEXT, TrainingSettings(embedding_dim=2, epochs=1_200))
    epochs, trajectory = session.trajectory()
    final, _ = session.oriented_weights()

    frame = session.replay_frame(session.trainer.epoch)
    assert epochs[frame] == session.trainer.epoch
    np.testing.assert_array_equal(trajectory[frame], final)
    assert epochs[0] == 0
    assert session.replay_frame(0) == 0

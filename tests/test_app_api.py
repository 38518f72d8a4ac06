"""The running app through gradio_client: streaming, Stop, predict, and session isolation."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import decode_array, plot_traces

JSON_TEXT = open(json.__file__).read()


def curve_losses(loss_plot) -> list[float]:
    """Return the y values of the current run's loss curve in a streamed loss chart."""
    traces = [t for t in plot_traces(loss_plot) if t.get("name") == "this run"]
    assert traces, "the loss chart has no 'this run' curve"
    return decode_array(traces[0]["y"])


def test_train_streams_falling_loss(new_client):
    client = new_client()
    job = client.submit(JSON_TEXT, 1, 0.05, 3000, "adam", 0, 0, "text", False, 0, 0, api_name="/train")
    updates = list(job)

    assert len(updates) >= 5
    first, last = curve_losses(updates[0][0]), curve_losses(updates[-1][0])
    assert len(last) > len(first)
    assert last[-1] < first[0] - 1.0
    assert "Epoch 3,000 / 3,000" in updates[-1][2]


def test_stop_ends_stream_and_keeps_weights(new_client):
    client = new_client()
    job = client.submit(JSON_TEXT, 1, 0.01, 100_000, "sgd", 0, 0, "text", False, 0, 0, api_name="/train")
    for count, _ in enumerate(job):
        if count == 3:
            break
    started = time.monotonic()
    _, _, status, _ = client.predict(api_name="/stop")
    deadline = time.monotonic() + 5
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert job.done()
    assert time.monotonic() - started < 5
    assert "Stopped at epoch" in status
    predicted, explanation, _, _ = client.predict("J", api_name="/predict")
    assert predicted
    assert "After J" in explanation


def test_predict_returns_distribution(new_client):
    client = new_client()
    list(client.submit("abcabcabc", 2, 0.05, 500, "adam", 0, 0, "text", False, 0, 0, api_name="/train"))

    predicted, explanation, bars, embedding = client.predict("a", api_name="/predict")

    assert predicted == "b"
    assert "After a the model predicts b" in explanation
    assert "e[a] × w[b]" not in explanation  # the sign rule is only explained at d = 1
    model_bars = next(t for t in plot_traces(bars) if t["name"] == "model")
    probabilities = decode_array(model_bars["x"])
    assert 0.5 < probabilities[0] <= 1.0
    assert probabilities == sorted(probabilities, reverse=True)
    assert plot_traces(embedding)


def test_predict_before_training(new_client):
    predicted, explanation, _, _ = new_client().predict("a", api_name="/predict")
    assert predicted == ""
    assert "Train a model first" in explanation


def test_two_clients_isolated(new_client):
    first, second = new_client(), new_client()
    list(first.submit("abababab", 1, 0.05, 400, "adam", 0, 0, "text", False, 0, 0, api_name="/train"))
    list(second.submit("xyxyxyxy", 1, 0.05, 400, "adam", 0, 0, "text", False, 0, 0, api_name="/train"))

    assert first.predict("a", api_name="/predict")[0] == "b"
    assert second.predict("x", api_name="/predict")[0] == "y"
    assert "does not occur in the text" in second.predict("a", api_name="/predict")[1]
    assert "does not occur in the text" in first.predict("x", api_name="/predict")[1]


def test_train_rejects_bad_text(new_client):
    client = new_client()
    for text, expected in [
        ("", "empty"),
        ("a", "only one character"),
        ("aaaa", "at least two different characters"),
    ]:
        updates = list(
            client.submit(text, 1, 0.05, 100, "adam", 0, 0, "text", False, 0, 0, api_name="/train")
        )
        status = updates[-1][2]
        assert expected in status.lower(), status


def test_stop_resume_step(new_client):
    client = new_client()
    job = client.submit(JSON_TEXT, 1, 0.001, 100_000, "sgd", 0, 0, "text", False, 0, 0, api_name="/train")
    for count, _ in enumerate(job):
        if count == 2:
            break
    stopped_status = client.predict(api_name="/stop")[2]
    stopped_epoch = int(stopped_status.split("Stopped at epoch ")[1].split(";")[0].replace(",", ""))

    stepped_status = client.predict(0.001, api_name="/step")[2]
    assert f"Epoch {stopped_epoch + 1:,} / 100,000" in stepped_status

    resumed = client.submit(0.002, 0, api_name="/resume")
    for count, _ in enumerate(resumed):
        if count == 2:
            break
    status = client.predict(api_name="/stop")[2]
    resumed_epoch = int(status.split("Stopped at epoch ")[1].split(";")[0].replace(",", ""))
    assert resumed_epoch > stopped_epoch + 1


def test_resume_without_run(new_client):
    updates = list(new_client().submit(0.01, 0, api_name="/resume"))
    assert "no run to resume" in updates[-1][2]


def test_sample_after_training(new_client):
    client = new_client()
    list(client.submit("abababab", 1, 0.05, 400, "adam", 0, 0, "text", False, 0, 0, api_name="/train"))

    text = client.predict("a", 1.0, 20, 0, api_name="/sample")

    assert len(text) == 21
    assert text.startswith("a")
    assert set(text) <= {"a", "b"}
    assert client.predict("a", 1.0, 20, 0, api_name="/sample") == text


def test_sample_rejects_missing_start(new_client):
    client = new_client()
    list(client.submit("abababab", 1, 0.05, 50, "adam", 0, 0, "text", False, 0, 0, api_name="/train"))
    assert "start character" in client.predict("", 1.0, 20, 0, api_name="/sample")
    assert "does not occur" in client.predict("z", 1.0, 20, 0, api_name="/sample")


def test_export_then_import_in_new_session(new_client, tmp_path):
    from gradio_client import handle_file

    trained = new_client()
    list(
        trained.submit(
            "hello world, hello moon", 2, 0.05, 300, "adam", 0, 0, "text", False, 0, 0, api_name="/train"
        )
    )
    files = trained.predict(api_name="/export")
    names = sorted(Path(f["path"]).name for f in files)
    assert names == ["charembed-model.zip", "loss-history.csv", "metadata.tsv", "vectors.tsv"]
    bundle = next(Path(f["path"]) for f in files if f["path"].endswith(".zip"))

    fresh = new_client()
    status = fresh.predict(handle_file(str(bundle)), api_name="/import")[2]
    assert "Imported a model" in status
    assert fresh.predict("l", api_name="/predict")[:2] == trained.predict("l", api_name="/predict")[:2]


def test_import_rejects_pickle(new_client, tmp_path):
    import pickle

    from gradio_client import handle_file

    client = new_client()
    fake = tmp_path / "model.zip"
    fake.write_bytes(pickle.dumps({"embedding": [1, 2, 3]}))
    status = client.predict(handle_file(str(fake)), api_name="/import")[2]
    assert "not a charembed model bundle" in status


def test_stop_after_finished_run_keeps_status(new_client):
    client = new_client()
    list(client.submit("abcabc", 1, 0.05, 50, "adam", 0, 0, "text", False, 0, 0, api_name="/train"))

    status = client.predict(api_name="/stop")[2]

    assert "Finished 50 epochs." in status
    assert "No run is going" in status


def test_notebook_sets_its_settings(new_client):
    *_, last = new_client().submit(api_name="/notebook")
    dim, lr, epochs, optimizer, seed, train_chars, vocab_mode, accumulate, holdout = last[1:10]
    assert seed == 0

    assert (dim, lr, epochs, optimizer) == (1, 0.1, 31, "sgd")
    assert (train_chars, vocab_mode, accumulate, holdout) == (5, "ascii126", True, 0.0)
    assert "Epoch 31 / 31" in last[12]

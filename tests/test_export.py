import csv
import io
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest
import safetensors.torch
import torch

from charembed.corpus import OTHER, build_corpus
from charembed.export import (
    BUNDLE_FILE,
    LOSS_FILE,
    METADATA_FILE,
    METADATA_MEMBER,
    NOT_A_BUNDLE,
    VECTORS_FILE,
    WEIGHTS_MEMBER,
    export_bundle,
    export_files,
    import_bundle,
    loss_csv,
    max_member_bytes,
    projector_tsv,
)
from charembed.inference import predict_next
from charembed.settings import LIMITS, Limits, TrainingSettings
from charembed.text import TextError
from charembed.training import Trainer, train

TEXT = "the cat\tsat\non the mat.\nthe end"  # space, tab and newline all occur
SETTINGS = TrainingSettings(epochs=40, embedding_dim=2)


@pytest.fixture(scope="module")
def trained():
    """Return (trainer, corpus) for TEXT after a short Adam run."""
    corpus = build_corpus(TEXT, SETTINGS)
    return train(corpus.counts, SETTINGS), corpus


@pytest.fixture(scope="module")
def bundle(trained):
    return export_bundle(*trained)


def round_trip(trainer: Trainer, corpus, limits: Limits = LIMITS):
    return import_bundle(export_bundle(trainer, corpus), limits)


def assert_same_predictions(original, restored):
    """Check predict_next after every character of the original vocabulary, merged ones included."""
    (trainer, corpus), (trainer_2, corpus_2) = original, restored
    chars = [char for char in corpus.vocab.stoi if char != OTHER]  # OTHER is no character to query
    for char in chars:
        expected = predict_next(trainer.model, corpus, char)
        actual = predict_next(trainer_2.model, corpus_2, char)
        assert actual.char_id == expected.char_id, char
        np.testing.assert_array_equal(actual.probs, expected.probs, err_msg=repr(char))
        np.testing.assert_array_equal(actual.actual, expected.actual, err_msg=repr(char))
        assert actual.occurrences == expected.occurrences, char


def members(bundle: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return the bundle.json object and the tensors of a bundle made by export_bundle."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        metadata = json.loads(archive.read(METADATA_MEMBER))
        tensors = safetensors.torch.load(archive.read(WEIGHTS_MEMBER))
    return metadata, tensors


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def rebuild(bundle: bytes, metadata_changes: dict | None = None, tensor_changes: dict | None = None) -> bytes:
    """Return `bundle` with some bundle.json keys and tensors replaced (None deletes a key)."""
    metadata, tensors = members(bundle)
    for changes, target in ((metadata_changes or {}, metadata), (tensor_changes or {}, tensors)):
        for key, value in changes.items():
            if value is None:
                del target[key]
            else:
                target[key] = value
    return make_zip(
        {METADATA_MEMBER: json.dumps(metadata).encode(), WEIGHTS_MEMBER: safetensors.torch.save(tensors)}
    )


def rejection(data: bytes, limits: Limits = LIMITS) -> str:
    """Import `data`, expect TextError, and return its message."""
    with pytest.raises(TextError) as caught:
        import_bundle(data, limits)
    message = str(caught.value)
    assert message.startswith(NOT_A_BUNDLE), message
    return message


# --- round trip


def test_round_trip_same_predictions(trained, bundle):
    restored = import_bundle(bundle)

    assert_same_predictions(trained, restored)


def test_round_trip_same_weights_and_history(trained, bundle):
    trainer, _ = trained

    trainer_2, _ = import_bundle(bundle)

    for param, param_2 in zip(trainer.params, trainer_2.params, strict=True):
        assert torch.equal(param, param_2)
    for array, array_2 in zip(trainer.loss_history(), trainer_2.loss_history(), strict=True):
        np.testing.assert_array_equal(array_2, array)
    assert trainer_2.epoch == trainer.epoch == SETTINGS.epochs
    assert trainer_2.status == "finished"
    assert trainer_2.done
    assert trainer_2.settings == trainer.settings


def test_round_trip_same_corpus_counts(trained, bundle):
    _, corpus = trained

    _, corpus_2 = import_bundle(bundle)

    assert corpus_2.vocab == corpus.vocab
    assert torch.equal(corpus_2.counts, corpus.counts)
    assert torch.equal(corpus_2.text_counts, corpus.text_counts)
    np.testing.assert_array_equal(corpus_2.char_counts, corpus.char_counts)
    assert corpus_2.references == corpus.references
    assert corpus_2.train_pairs == corpus.train_pairs
    assert corpus_2.encoding == corpus.encoding
    assert corpus_2.text == ""


def test_bundle_json_fields(trained, bundle):
    trainer, corpus = trained

    metadata, tensors = members(bundle)

    assert metadata["format"] == "charembed-bundle"
    assert metadata["version"] == 1
    assert metadata["vocab"] == corpus.vocab.itos
    assert metadata["settings"]["embedding_dim"] == 2
    assert metadata["epoch"] == trainer.epoch
    assert metadata["text_length"] == len(TEXT)
    assert tensors["embedding"].dtype == torch.float32
    assert tensors["embedding"].shape == (corpus.vocab.vocab_size, 2)
    assert tensors["losses"].dtype == torch.float64
    assert tensors["losses"].shape == (trainer.epoch + 1,)


def test_round_trip_merged_vocab():
    limits = Limits(max_vocab_size=5)
    settings = TrainingSettings(epochs=10)
    corpus = build_corpus(TEXT, settings, limits=limits)
    trainer = train(corpus.counts, settings, limits)
    assert corpus.vocab.itos[-1] == OTHER

    restored = round_trip(trainer, corpus, limits)

    assert restored[1].vocab.stoi == corpus.vocab.stoi
    assert restored[1].vocab.merged_chars == corpus.vocab.merged_chars
    assert_same_predictions((trainer, corpus), restored)


def test_round_trip_notebook_vocab():
    settings = TrainingSettings.notebook()
    corpus = build_corpus(TEXT, settings)
    trainer = train(corpus.counts, settings)

    restored = round_trip(trainer, corpus)

    assert restored[1].vocab.mode == "ascii126"
    assert restored[0].settings.accumulate_grad
    for char in set(TEXT):
        np.testing.assert_array_equal(
            predict_next(restored[0].model, restored[1], char).probs,
            predict_next(trainer.model, corpus, char).probs,
        )


def test_round_trip_heldout_history():
    settings = TrainingSettings(epochs=15, holdout_fraction=0.25)
    corpus = build_corpus(TEXT, settings)
    trainer = Trainer(corpus.counts, settings, heldout_counts=corpus.heldout_counts)
    for _ in trainer.run():
        pass

    trainer_2, corpus_2 = round_trip(trainer, corpus)

    assert torch.equal(corpus_2.heldout_counts, corpus.heldout_counts)
    np.testing.assert_array_equal(
        trainer_2.loss_history(heldout=True)[1], trainer.loss_history(heldout=True)[1]
    )


def test_paused_run_imports_as_stopped():
    corpus = build_corpus(TEXT, SETTINGS)
    trainer = Trainer(corpus.counts, SETTINGS)
    for snapshot in trainer.run():
        if snapshot.epoch == 7:
            break
    assert trainer.status == "running"

    trainer_2, _ = round_trip(trainer, corpus)

    assert trainer_2.epoch == 7
    assert trainer_2.status == "stopped"
    assert "paused at epoch 7" in trainer_2.message
    assert len(trainer_2.loss_history()[1]) == 8


def test_export_untrained_raises():
    corpus = build_corpus(TEXT, SETTINGS)

    with pytest.raises(ValueError, match="train it before exporting"):
        export_bundle(Trainer(corpus.counts, SETTINGS), corpus)


# --- projector TSV and loss CSV


def test_projector_tsv_one_row_per_entry(trained):
    trainer, corpus = trained
    embedding = trainer.model.embedding.weight.detach().numpy()

    vectors, metadata = projector_tsv(embedding, corpus.vocab.itos, corpus.char_counts)

    vector_rows = vectors.splitlines()
    metadata_rows = metadata.splitlines()
    assert len(vector_rows) == corpus.vocab.vocab_size
    assert len(metadata_rows) == corpus.vocab.vocab_size + 1  # the header row
    assert metadata_rows[0] == "char\tname\tcount"
    parsed = np.array([[float(value) for value in row.split("\t")] for row in vector_rows], dtype=np.float32)
    np.testing.assert_array_equal(parsed, embedding)


def test_projector_tsv_readable_labels(trained):
    trainer, corpus = trained
    embedding = trainer.model.embedding.weight.detach().numpy()

    _, metadata = projector_tsv(embedding, corpus.vocab.itos, corpus.char_counts)

    rows = [row.split("\t") for row in metadata.split("\n")[1:-1]]
    assert all(len(row) == 3 for row in rows)  # so no field contains a raw tab
    labels = {row[0]: (row[1], int(row[2])) for row in rows}
    assert labels["␣"] == ("space", TEXT.count(" "))
    assert labels["⏎"] == ("newline", TEXT.count("\n"))
    assert labels["⇥"] == ("tab", TEXT.count("\t"))
    assert labels["t"] == ("LATIN SMALL LETTER T", TEXT.count("t"))


def test_projector_tsv_other_and_controls():
    itos = ["\r", "\x00", "a", OTHER]

    _, metadata = projector_tsv(np.zeros((4, 1), dtype=np.float32), itos, [1, 2, 3, 4])

    rows = [row.split("\t") for row in metadata.splitlines()[1:]]
    assert [row[0] for row in rows] == ["U+000D", "U+0000", "a", "other"]
    assert rows[3][1].startswith("other")


def test_projector_tsv_shape_mismatch_raises():
    with pytest.raises(ValueError, match="V = 3"):
        projector_tsv(np.zeros((2, 1)), ["a", "b", "c"], [1, 1, 1])


def test_loss_csv_one_row_per_epoch(trained):
    trainer, _ = trained

    rows = list(csv.reader(io.StringIO(loss_csv(trainer))))

    assert rows[0] == ["epoch", "loss"]
    assert len(rows) == SETTINGS.epochs + 2  # header, then epochs 0 .. epochs
    assert [int(row[0]) for row in rows[1:]] == list(range(SETTINGS.epochs + 1))
    np.testing.assert_array_equal([float(row[1]) for row in rows[1:]], trainer.loss_history()[1])


def test_export_files_writes_four_files(trained, tmp_path):
    trainer, corpus = trained

    paths = export_files(trainer, corpus, tmp_path / "export")

    assert [path.name for path in paths] == [BUNDLE_FILE, VECTORS_FILE, METADATA_FILE, LOSS_FILE]
    assert all(path.parent == tmp_path / "export" for path in paths)
    assert_same_predictions(trained, import_bundle(paths[0].read_bytes()))
    assert b"\r\n" not in paths[2].read_bytes()
    assert paths[2].read_text(encoding="utf-8").count("\n") == corpus.vocab.vocab_size + 1
    assert paths[3].read_text(encoding="utf-8") == loss_csv(trainer)


# --- rejected files


def test_rebuilt_bundle_imports(bundle):
    """The helper that damages bundles keeps an undamaged one importable."""
    trainer, _ = import_bundle(rebuild(bundle))

    assert trainer.status == "finished"


def test_reject_pickle():
    message = rejection(pickle.dumps({"embedding": [0.1, 0.2]}))

    assert "pickle" in message


def test_reject_torch_save(trained):
    buffer = io.BytesIO()
    torch.save(trained[0].model.state_dict(), buffer)

    message = rejection(buffer.getvalue())

    assert "torch.save" in message


def test_reject_random_bytes():
    message = rejection(os.urandom(1000))

    assert "not a zip archive" in message


def test_reject_zip_without_members():
    message = rejection(make_zip({"notes.txt": b"hello"}))

    assert "model.safetensors and bundle.json missing" in message


def test_reject_truncated_safetensors(bundle):
    metadata, tensors = members(bundle)
    weights = safetensors.torch.save(tensors)
    data = make_zip({METADATA_MEMBER: json.dumps(metadata).encode(), WEIGHTS_MEMBER: weights[:-100]})

    message = rejection(data)

    assert "model.safetensors is truncated or damaged" in message


def test_reject_invalid_json(bundle):
    _, tensors = members(bundle)
    data = make_zip(
        {METADATA_MEMBER: b'{"format": "charembed-bundle",', WEIGHTS_MEMBER: safetensors.torch.save(tensors)}
    )

    message = rejection(data)

    assert "not valid JSON" in message


def test_reject_wrong_format_name(bundle):
    message = rejection(rebuild(bundle, {"format": "someone-else"}))

    assert "format is 'someone-else'" in message


def test_reject_wrong_version(bundle):
    message = rejection(rebuild(bundle, {"version": 2}))

    assert "version is 2" in message
    assert "reads version 1" in message


def test_reject_missing_key(bundle):
    message = rejection(rebuild(bundle, {"references": None}))

    assert "missing references" in message


def test_reject_embedding_shape(bundle):
    _, tensors = members(bundle)

    message = rejection(rebuild(bundle, tensor_changes={"embedding": tensors["embedding"][:-1].clone()}))

    assert "'embedding'" in message
    assert "shape" in message


def test_reject_output_shape(bundle):
    _, tensors = members(bundle)
    vocab_size = tensors["output"].shape[0]

    message = rejection(rebuild(bundle, tensor_changes={"output": torch.zeros(vocab_size, 3)}))

    assert f"'output' is F32 of shape ({vocab_size}, 3)" in message
    assert f"call for F32 of shape ({vocab_size}, 2)" in message


def test_reject_counts_shape(bundle):
    message = rejection(rebuild(bundle, tensor_changes={"counts": torch.ones(2, 2)}))

    assert "'counts'" in message


def test_reject_wrong_dtype(bundle):
    _, tensors = members(bundle)

    message = rejection(rebuild(bundle, tensor_changes={"embedding": tensors["embedding"].double()}))

    assert "F64" in message


def test_reject_missing_tensor(bundle):
    message = rejection(rebuild(bundle, tensor_changes={"text_counts": None}))

    assert "text_counts" in message


@pytest.mark.parametrize("bad_value", [math.nan, math.inf])
def test_reject_non_finite_weights(bundle, bad_value):
    _, tensors = members(bundle)
    output = tensors["output"].clone()
    output[3, 1] = bad_value

    message = rejection(rebuild(bundle, tensor_changes={"output": output}))

    assert "'output' contains NaN or infinite values" in message


def test_reject_negative_counts(bundle):
    _, tensors = members(bundle)
    counts = tensors["counts"].clone()
    counts[0, 0] = -1

    message = rejection(rebuild(bundle, tensor_changes={"counts": counts}))

    assert "not whole non-negative counts" in message


def test_reject_embedding_dim_above_three(bundle):
    metadata, tensors = members(bundle)
    vocab_size = tensors["embedding"].shape[0]
    changes = {"embedding": torch.zeros(vocab_size, 4), "output": torch.zeros(vocab_size, 4)}

    message = rejection(rebuild(bundle, {"settings": metadata["settings"] | {"embedding_dim": 4}}, changes))

    assert "Embedding dimension 4 is out of range" in message


def test_reject_invalid_settings(bundle):
    metadata, _ = members(bundle)

    message = rejection(rebuild(bundle, {"settings": metadata["settings"] | {"learning_rate": 1e9}}))

    assert "Learning rate" in message


def test_reject_setting_of_wrong_type(bundle):
    metadata, _ = members(bundle)

    message = rejection(rebuild(bundle, {"settings": metadata["settings"] | {"epochs": "40"}}))

    assert "setting epochs" in message


def test_reject_vocab_over_limit(trained, bundle):
    vocab_size = trained[1].vocab.vocab_size

    message = rejection(bundle, Limits(max_vocab_size=10))

    assert f"{vocab_size} entries" in message
    assert "2 to 10" in message


def test_reject_vocab_entry_not_one_char(bundle):
    metadata, _ = members(bundle)
    vocab = ["ab", *metadata["vocab"][1:]]

    message = rejection(rebuild(bundle, {"vocab": vocab}))

    assert "'ab' is not a single character" in message


def test_reject_zip_bomb_member(bundle):
    metadata, _ = members(bundle)
    cap = max_member_bytes()[WEIGHTS_MEMBER]
    zeros = bytes(cap + 1)  # compresses about a thousandfold
    data = make_zip({METADATA_MEMBER: json.dumps(metadata).encode(), WEIGHTS_MEMBER: zeros})
    assert len(data) < cap // 100

    message = rejection(data)

    assert f"declares {cap + 1:,} bytes" in message
    assert f"limit of {cap:,} bytes" in message

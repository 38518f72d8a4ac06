"""Export a trained model and import it again; export its embedding and loss history.

A model bundle is a zip archive of two members:

- `model.safetensors`: the weights, the bigram counts and the loss history as named tensors
  (`tensor_specs` lists them);
- `bundle.json`: the format name and version, the vocabulary, the training settings, how far the
  run got, the reference losses, and the length and encoding of the text.

The text itself is not exported, so an imported corpus has the counts of its text but no text.
`import_bundle` parses only zip, JSON and safetensors, and never unpickles anything, so a file
cannot run code by being imported. It raises TextError for any file that is not a bundle of this
format, and its message names what is wrong.

`projector_tsv` gives the vectors and metadata files that the TensorFlow Embedding Projector
(projector.tensorflow.org, "Load") reads, and `loss_csv` the loss of every epoch.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch

from charembed.corpus import Corpus, ReferenceLosses, Vocab
from charembed.settings import LIMITS, NOTEBOOK_VOCAB_SIZE, Limits, TrainingSettings
from charembed.text import OTHER, TextError, describe_char, display_char
from charembed.training import Trainer

BUNDLE_FORMAT = "charembed-bundle"
BUNDLE_VERSION = 1
WEIGHTS_MEMBER = "model.safetensors"
METADATA_MEMBER = "bundle.json"

BUNDLE_FILE = "charembed-model.zip"
VECTORS_FILE = "vectors.tsv"
METADATA_FILE = "metadata.tsv"
LOSS_FILE = "loss-history.csv"

NOT_A_BUNDLE = "This file is not a charembed model bundle (a .zip exported by this app)"
IMPORT_HINT = "Import a .zip saved with this app's Export, or train a new model."

STATUSES = ("running", "finished", "diverged", "time limit", "stopped")  # Trainer.status values
METADATA_KEYS = (
    "format",
    "version",
    "vocab",
    "vocab_mode",
    "merged_chars",
    "merged",
    "settings",
    "epoch",
    "status",
    "message",
    "references",
    "text_length",
    "encoding",
)

HEADER_BYTES = 64 * 1024  # room for the safetensors header, and for the settings and messages in bundle.json
JSON_ESCAPE_BYTES = 12  # the longest JSON escape of one character: a surrogate pair such as "\ud83d\ude00"
MAX_CODE_POINTS = 0x110000  # every Unicode code point, the most characters a vocabulary can merge
# safetensors stores little-endian data
_NUMPY_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}


# ---- export


def export_bundle(trainer: Trainer, corpus: Corpus) -> bytes:
    """Return a model bundle (zip archive bytes) of the trainer's weights and history and the
    corpus's vocabulary and counts. Call it between runs: the weights are read as they are.

    Raise ValueError when the trainer has no loss yet or its model does not fit the corpus's vocabulary.
    """
    _, losses = trainer.loss_history()
    if len(losses) == 0:
        raise ValueError("The model has no loss history yet: train it before exporting.")
    if trainer.model.vocab_size != corpus.vocab.vocab_size:
        raise ValueError(
            f"The model has {trainer.model.vocab_size} vocabulary entries but the corpus has "
            f"{corpus.vocab.vocab_size}: export a trainer with the corpus it was trained on."
        )

    weights = safetensors.torch.save(_bundle_tensors(trainer, corpus))
    # ASCII escapes keep the file valid even for lone surrogates, which a str may hold but UTF-8 cannot
    metadata = json.dumps(_bundle_metadata(trainer, corpus), indent=2, ensure_ascii=True)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_MEMBER, metadata)
        archive.writestr(WEIGHTS_MEMBER, weights)
    return buffer.getvalue()


def _bundle_tensors(trainer: Trainer, corpus: Corpus) -> dict[str, torch.Tensor]:
    # NOTE: float32 represents every whole number up to 2**24 = 16,777,216 exactly, so the counts are
    # stored unchanged while limits.max_text_chars (10 million by default) stays below that.
    epoch_count = len(trainer.loss_history()[1])
    tensors = {
        "embedding": trainer.model.embedding.weight.detach().to(torch.float32),  # (V, d)
        "output": trainer.model.output.weight.detach().to(torch.float32),  # (V, d)
        "counts": corpus.counts.to(torch.float32),  # (V, V)
        "text_counts": corpus.text_counts.to(torch.float32),  # (V, V)
        "char_counts": torch.from_numpy(np.asarray(corpus.char_counts, dtype=np.int64)),  # (V,)
        "losses": torch.from_numpy(trainer.losses[:epoch_count].astype(np.float64)),  # (epoch + 1,)
    }
    if trainer.heldout_losses is not None:
        tensors["heldout_counts"] = trainer.heldout_counts.to(torch.float32)  # (V, V)
        tensors["heldout_losses"] = torch.from_numpy(trainer.heldout_losses[:epoch_count].astype(np.float64))
    return {name: tensor.contiguous() for name, tensor in tensors.items()}


def _bundle_metadata(trainer: Trainer, corpus: Corpus) -> dict:
    vocab = corpus.vocab
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "vocab": vocab.itos,
        "vocab_mode": vocab.mode,
        "merged_chars": vocab.merged_chars,
        "merged": "".join(_merged_chars(vocab)),
        "settings": dataclasses.asdict(trainer.settings),
        "epoch": trainer.epoch,
        "status": trainer.status,
        "message": trainer.message,
        "references": dataclasses.asdict(corpus.references),
        "text_length": len(corpus.text),
        "encoding": corpus.encoding,
    }


def _merged_chars(vocab: Vocab) -> list[str]:
    """Return the rare characters that share the OTHER id, ordered by code point."""
    if not vocab.itos or vocab.itos[-1] != OTHER:
        return []
    other_id = vocab.vocab_size - 1
    return sorted(char for char, char_id in vocab.stoi.items() if char_id == other_id and char != OTHER)


def projector_tsv(embedding: np.ndarray, vocab_itos: list[str], char_counts) -> tuple[str, str]:
    """Return (vectors.tsv, metadata.tsv) for the TensorFlow Embedding Projector.

    vectors.tsv has one row per vocabulary entry with its d coordinates and no header. A metadata
    file with more than one column needs a header row, so metadata.tsv starts with
    "char<TAB>name<TAB>count" and then has one row per entry, in the same order. Characters are
    drawn with `display_char`, so no field contains a tab or a line break.
    Raise ValueError when embedding (V, d), vocab_itos (V) and char_counts (V) disagree on V.
    """
    embedding = np.asarray(embedding)
    char_counts = np.asarray(char_counts)
    if embedding.ndim != 2 or not len(embedding) == len(vocab_itos) == len(char_counts):
        raise ValueError(
            f"Expected a (V, d) embedding with V = {len(vocab_itos)} vocabulary entries and counts, "
            f"got embedding {embedding.shape} and {len(char_counts)} counts."
        )

    # 9 significant digits read back as the same float32
    vectors = "".join("\t".join(f"{value:.9g}" for value in row.tolist()) + "\n" for row in embedding)

    rows = ["char\tname\tcount"]
    for char, count in zip(vocab_itos, char_counts.tolist(), strict=True):
        fields = (display_char(char), describe_char(char), str(int(count)))
        rows.append("\t".join(_tsv_field(field) for field in fields))
    return vectors, "\n".join(rows) + "\n"


def _tsv_field(value: str) -> str:
    if any(separator in value for separator in "\t\n\r"):
        raise ValueError(f"A TSV field may not contain a tab or a line break: {value!r}.")
    return value


def loss_csv(trainer: Trainer) -> str:
    """Return the loss after every epoch so far as CSV: a header "epoch,loss" (plus ",heldout_loss"
    when part of the text was held out), then one row per epoch from 0, not downsampled."""
    epochs, losses = trainer.loss_history()
    columns = [epochs.tolist(), losses.tolist()]
    header = "epoch,loss"
    if trainer.heldout_losses is not None:
        columns.append(trainer.loss_history(heldout=True)[1].tolist())
        header += ",heldout_loss"

    # repr gives the shortest text that reads back as the same float
    rows = [header] + [",".join(map(repr, row)) for row in zip(*columns, strict=True)]
    return "\n".join(rows) + "\n"


def export_files(trainer: Trainer, corpus: Corpus, directory: Path) -> list[Path]:
    """Write the bundle, the projector's vectors.tsv and metadata.tsv, and the loss history CSV
    into `directory` (created if missing), and return their paths in that order.

    Raise ValueError as `export_bundle` does.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    embedding = trainer.model.embedding.weight.detach().numpy()
    vectors, metadata = projector_tsv(embedding, corpus.vocab.itos, corpus.char_counts)

    bundle_path = directory / BUNDLE_FILE
    bundle_path.write_bytes(export_bundle(trainer, corpus))
    paths = [bundle_path]
    for name, content in ((VECTORS_FILE, vectors), (METADATA_FILE, metadata), (LOSS_FILE, loss_csv(trainer))):
        path = directory / name
        path.write_text(content, encoding="utf-8", newline="")  # "\n" line ends on every system
        paths.append(path)
    return paths


# ---- import


def import_bundle(data: bytes, limits: Limits = LIMITS) -> tuple[Trainer, Corpus]:
    """Restore a trainer and corpus from bundle bytes made by `export_bundle`, for exploring.

    The trainer's model contains the exported weights and its loss history ends at the exported
    epoch. A run exported while paused is marked "stopped", because the optimizer state is not
    exported and a resumed run would take different steps. The corpus has the vocabulary, counts
    and reference losses, an empty text and no ids.

    Raise TextError, whose message names what is wrong, for data that is not such a bundle: not a
    zip archive, members missing, damaged or over the size caps of `max_member_bytes`, invalid
    JSON, another format or version, invalid settings or vocabulary, tensors of the wrong dtype
    or shape, or non-finite weights.
    """
    metadata_bytes, weights_bytes = _read_members(data, limits)
    metadata = _parse_metadata(metadata_bytes)

    settings = _parse_settings(metadata["settings"], limits)
    vocab = _parse_vocab(metadata, settings, limits)
    epoch = _json_value(metadata["epoch"], int, "epoch")
    if not 0 <= epoch <= settings.epochs:
        raise _rejected(f"its epoch {epoch} is outside 0 to {settings.epochs} (the run's epochs)")

    specs = tensor_specs(vocab.vocab_size, settings.embedding_dim, epoch, settings.holdout_fraction > 0)
    arrays = _parse_tensors(weights_bytes, specs)
    _check_values(arrays)

    corpus = _restore_corpus(metadata, vocab, arrays)
    trainer = _restore_trainer(metadata, settings, epoch, corpus, arrays, limits)
    return trainer, corpus


def tensor_specs(vocab_size: int, embedding_dim: int, epoch: int, heldout: bool) -> dict[str, tuple]:
    """Return the safetensors dtype and shape of every tensor in a bundle: name -> (dtype, shape)."""
    V, d = vocab_size, embedding_dim  # noqa: N806 (the shape notation of the docstrings)
    specs = {
        "embedding": ("F32", (V, d)),
        "output": ("F32", (V, d)),
        "counts": ("F32", (V, V)),  # bigram counts of the training span
        "text_counts": ("F32", (V, V)),  # bigram counts of the whole text
        "char_counts": ("I64", (V,)),
        "losses": ("F64", (epoch + 1,)),  # the loss after each epoch 0 .. epoch
    }
    if heldout:
        specs["heldout_counts"] = ("F32", (V, V))
        specs["heldout_losses"] = ("F64", (epoch + 1,))
    return specs


def max_member_bytes(limits: Limits = LIMITS) -> dict[str, int]:
    """Return the largest uncompressed size accepted for each member of a bundle.

    The caps are those of the largest bundle `limits` allow, with V the largest vocabulary and
    d the largest embedding dimension. model.safetensors is a 64 KiB header, 2 float32 (V, d)
    weights, 3 float32 (V, V) counts, (V,) int64 character counts and 2 float64 loss histories of
    limits.max_epochs + 1 epochs: 13.7 MB for the default limits. bundle.json is 64 KiB plus
    12 bytes for every vocabulary entry and every Unicode code point that may be merged: 13.4 MB.
    Checking the sizes that the zip directory declares before reading guards against zip bombs.
    """
    V = max(limits.max_vocab_size, NOTEBOOK_VOCAB_SIZE)  # noqa: N806
    weights = 2 * V * limits.max_embedding_dim * 4 + 3 * V * V * 4 + V * 8 + 2 * (limits.max_epochs + 1) * 8
    return {
        WEIGHTS_MEMBER: HEADER_BYTES + weights,
        METADATA_MEMBER: HEADER_BYTES + JSON_ESCAPE_BYTES * (V + MAX_CODE_POINTS),
    }


def _rejected(reason: str) -> TextError:
    return TextError(f"{NOT_A_BUNDLE}: {reason}. {IMPORT_HINT}")


def _read_members(data: bytes, limits: Limits) -> tuple[bytes, bytes]:
    """Return the bytes of bundle.json and model.safetensors, checking sizes before reading."""
    caps = max_member_bytes(limits)
    # deflate grows incompressible data by well under 1 %, and zip headers take a few hundred bytes
    max_bundle_bytes = sum(caps.values()) * 101 // 100 + HEADER_BYTES
    if len(data) > max_bundle_bytes:
        raise _rejected(
            f"it is {len(data) / 1e6:.1f} MB, larger than any bundle can be ({max_bundle_bytes / 1e6:.1f} MB)"
        )
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise _rejected("it is a Python pickle, which this app never loads because unpickling can run code")

    # subtle: for some damaged archives zipfile lets the ValueError of a negative seek in io.BytesIO
    # escape instead of raising BadZipFile (seen with Python 3.11). It raises NotImplementedError
    # for a zip version or compression method that it does not support.
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, NotImplementedError, ValueError) as error:
        raise _rejected(f"it is not a zip archive that this app can read ({error})") from None

    with archive:
        _check_members(archive, caps)
        try:
            return archive.read(METADATA_MEMBER), archive.read(WEIGHTS_MEMBER)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as error:
            raise _rejected(f"the zip archive is damaged ({error})") from None


def _check_members(archive: zipfile.ZipFile, caps: dict[str, int]) -> None:
    names = archive.namelist()
    if any(name.endswith("data.pkl") for name in names):
        raise _rejected(
            "it is a PyTorch checkpoint (torch.save), which this app never loads "
            "because unpickling can run code"
        )
    missing = [name for name in caps if name not in names]
    if missing:
        raise _rejected(f"{' and '.join(missing)} missing from the zip archive")

    for name, cap in caps.items():
        info = archive.getinfo(name)
        if info.flag_bits & 0x1:
            raise _rejected(f"its {name} is encrypted")
        if info.file_size > cap:
            raise _rejected(f"its {name} declares {info.file_size:,} bytes, over the limit of {cap:,} bytes")


def _parse_metadata(raw: bytes) -> dict:
    """Parse bundle.json and check its format name, version and keys."""
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise _rejected(f"its {METADATA_MEMBER} is not valid JSON ({error})") from None
    if not isinstance(metadata, dict):
        raise _rejected(f"its {METADATA_MEMBER} is not a JSON object")

    if metadata.get("format") != BUNDLE_FORMAT:
        raise _rejected(f"its format is {_short(metadata.get('format'))}, not {BUNDLE_FORMAT!r}")
    version = metadata.get("version")
    if type(version) is not int or version != BUNDLE_VERSION:
        raise _rejected(
            f"its format version is {_short(version)}, but this app reads version {BUNDLE_VERSION}"
        )
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise _rejected(f"its {METADATA_MEMBER} is missing {', '.join(missing)}")
    return metadata


def _parse_settings(raw, limits: Limits) -> TrainingSettings:
    """Build TrainingSettings from the JSON object, type by type, and validate them."""
    raw = _json_value(raw, dict, "settings")
    names = TrainingSettings.field_names()
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise _rejected(f"its settings contain unknown fields: {', '.join(map(_short, unknown))}")

    # NOTE: a setting missing from the file takes its default, so bundles exported before a setting
    # existed still import. That is right only while every new setting defaults to the old behaviour.
    defaults = TrainingSettings()
    values = {}
    for name in names:
        default = getattr(defaults, name)
        values[name] = _json_value(raw.get(name, default), type(default), f"setting {name}")
    settings = TrainingSettings(**values)

    try:
        settings.validate(limits)
    except ValueError as error:
        raise _rejected(f"its settings are invalid ({error})") from None
    return settings


def _parse_vocab(metadata: dict, settings: TrainingSettings, limits: Limits) -> Vocab:
    """Check the vocabulary entries, mode and merged characters, and rebuild the Vocab."""
    itos = _json_value(metadata["vocab"], list, "vocab")
    mode = _json_value(metadata["vocab_mode"], str, "vocab_mode")
    merged = _json_value(metadata["merged"], str, "merged")
    merged_chars = _json_value(metadata["merged_chars"], int, "merged_chars")
    if mode != settings.vocab_mode:
        raise _rejected(f"its vocab_mode {_short(mode)} differs from its settings' {settings.vocab_mode!r}")

    if mode == "ascii126":
        if itos != [chr(code_point) for code_point in range(NOTEBOOK_VOCAB_SIZE)]:
            raise _rejected(
                "its vocabulary is not the notebook's code points 0-125, "
                "although its vocab_mode is 'ascii126'"
            )
    else:
        _check_text_vocab(itos, limits)

    has_other = itos[-1] == OTHER
    if merged_chars != len(merged) or has_other != (merged_chars > 0):
        raise _rejected(
            f"its merged_chars {merged_chars} does not match its {len(merged)} merged characters "
            f"and its vocabulary {'with' if has_other else 'without'} {OTHER!r}"
        )
    known = set(itos)
    if len(set(merged)) != len(merged) or any(char in known for char in merged):
        raise _rejected("its merged characters repeat or are also vocabulary entries")

    stoi = {char: char_id for char_id, char in enumerate(itos)}
    stoi.update((char, len(itos) - 1) for char in merged)
    return Vocab(itos=itos, stoi=stoi, mode=mode, merged_chars=merged_chars)


def _check_text_vocab(itos: list, limits: Limits) -> None:
    """Check a "text" vocabulary: 2 to max_vocab_size single characters in increasing code point
    order, then optionally OTHER."""
    if not 2 <= len(itos) <= limits.max_vocab_size:
        raise _rejected(
            f"its vocabulary has {len(itos):,} entries, but this app accepts 2 to {limits.max_vocab_size:,}"
        )
    chars = itos[:-1] if itos[-1] == OTHER else itos
    for entry in chars:
        if not isinstance(entry, str) or len(entry) != 1:
            raise _rejected(f"its vocabulary entry {_short(entry)} is not a single character")
    code_points = [ord(char) for char in chars]
    if any(later <= earlier for earlier, later in itertools.pairwise(code_points)):
        raise _rejected("its vocabulary is not in increasing code point order without repeats")


def _parse_tensors(raw: bytes, specs: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Deserialize model.safetensors and check every tensor's name, dtype and shape against `specs`
    before converting it to a numpy array."""
    try:
        views = dict(safetensors.deserialize(raw))
    except safetensors.SafetensorError as error:
        raise _rejected(f"its {WEIGHTS_MEMBER} is truncated or damaged ({error})") from None

    missing = [name for name in specs if name not in views]
    unexpected = sorted(set(views) - set(specs))
    if missing or unexpected:
        raise _rejected(
            f"its {WEIGHTS_MEMBER} has tensors {sorted(views)}, expected {list(specs)} "
            "for its settings (held-out tensors belong to runs with a held-out fraction)"
        )

    arrays = {}
    for name, (dtype, shape) in specs.items():
        view = views[name]
        if view["dtype"] != dtype or tuple(view["shape"]) != shape:
            raise _rejected(
                f"its tensor {name!r} is {view['dtype']} of shape {tuple(view['shape'])}, but its vocabulary "
                f"and settings call for {dtype} of shape {shape}"
            )
        array = np.frombuffer(view["data"], dtype=_NUMPY_DTYPES[dtype]).reshape(shape)
        arrays[name] = array.astype(array.dtype.newbyteorder("="))  # a native-order copy
    return arrays


def _check_values(arrays: dict[str, np.ndarray]) -> None:
    for name in ("embedding", "output", "losses", "heldout_losses"):
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise _rejected(f"its tensor {name!r} contains NaN or infinite values")

    for name in ("counts", "text_counts", "heldout_counts", "char_counts"):
        if name not in arrays:
            continue
        values = arrays[name]
        if not (np.isfinite(values).all() and (values >= 0).all() and (values == np.round(values)).all()):
            raise _rejected(f"its tensor {name!r} contains values that are not whole non-negative counts")
    if arrays["counts"].sum() <= 0:
        raise _rejected("its training counts contain no pair of characters")


def _restore_corpus(metadata: dict, vocab: Vocab, arrays: dict[str, np.ndarray]) -> Corpus:
    references = _json_value(metadata["references"], dict, "references")
    losses = {}
    for field in dataclasses.fields(ReferenceLosses):
        value = _json_value(references.get(field.name), float, f"reference loss {field.name}")
        if not (math.isfinite(value) and value >= 0):
            raise _rejected(f"its reference loss {field.name} is {value}, not a finite loss")
        losses[field.name] = value

    _json_value(metadata["text_length"], int, "text_length")
    counts = torch.from_numpy(arrays["counts"].astype(np.float64))  # (V, V)
    heldout_counts = arrays.get("heldout_counts")
    if heldout_counts is not None:
        heldout_counts = torch.from_numpy(heldout_counts.astype(np.float64))  # (V, V)
    return Corpus(
        text="",
        encoding=_json_value(metadata["encoding"], str, "encoding"),
        vocab=vocab,
        ids=np.zeros(0, dtype=np.int64),
        counts=counts,
        text_counts=torch.from_numpy(arrays["text_counts"].astype(np.float64)),  # (V, V)
        char_counts=arrays["char_counts"],  # (V,) int64
        references=ReferenceLosses(**losses),
        train_pairs=int(counts.sum().item()),
        heldout_counts=heldout_counts,
    )


def _restore_trainer(
    metadata: dict,
    settings: TrainingSettings,
    epoch: int,
    corpus: Corpus,
    arrays: dict[str, np.ndarray],
    limits: Limits,
) -> Trainer:
    status = _json_value(metadata["status"], str, "status")
    if status not in STATUSES:
        raise _rejected(f"its status {_short(status)} is not one of {', '.join(STATUSES)}")
    message = _json_value(metadata["message"], str, "message")

    if status == "running":
        status = "stopped"
        message = (
            f"Imported a run paused at epoch {epoch:,}. It cannot be resumed because the optimizer "
            "state is not exported: press Train to start a new run."
        )
    trainer = Trainer(corpus.counts, settings, limits, heldout_counts=corpus.heldout_counts)
    trainer.restore(
        arrays["embedding"], arrays["output"], arrays["losses"], arrays.get("heldout_losses"), status, message
    )
    return trainer


_JSON_TYPE_NAMES = {
    dict: "a JSON object",
    list: "a JSON array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}


def _json_value(value, expected: type, label: str):
    """Return `value` if it has the JSON type `expected`; raise TextError naming `label` otherwise.

    JSON true and false are not integers here, and an integer is accepted as a float.
    """
    if expected is float and type(value) is int:
        return float(value)
    if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
        raise _rejected(f"its {label} is {_short(value)}, not {_JSON_TYPE_NAMES[expected]}")
    return value


def _short(value, max_chars: int = 40) -> str:
    """Return repr(value), cut to max_chars characters, for messages about untrusted input."""
    text = repr(value)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

"""Shareable links: query parameters to settings and back."""

from __future__ import annotations

from charembed.links import build_query, parse_query
from charembed.settings import TrainingSettings


def test_parse_sets_every_setting():
    link = parse_query(
        {
            "example": "sonnets",
            "dim": "2",
            "lr": "0.05",
            "epochs": "300",
            "optimizer": "momentum",
            "seed": "7",
            "train_chars": "100",
            "vocab": "ascii126",
            "accumulate": "yes",
            "holdout": "0.2",
            "pace": "30",
        }
    )

    assert link.problems == ()
    assert link.example == "Shakespeare's sonnets (1609)"
    assert link.pace_seconds == 30
    assert link.settings == TrainingSettings(
        embedding_dim=2,
        learning_rate=0.05,
        epochs=300,
        optimizer="momentum",
        seed=7,
        train_chars=100,
        vocab_mode="ascii126",
        accumulate_grad=True,
        holdout_fraction=0.2,
    )


def test_parse_ignores_bad_values():
    link = parse_query({"dim": "4", "lr": "fast", "epochs": "10", "colour": "red", "example": "nope"})

    assert link.settings == TrainingSettings(epochs=10)
    assert link.example is None
    assert len(link.problems) == 4
    assert any("dim='4'" in problem and "1 to 3" in problem for problem in link.problems)
    assert any("lr='fast'" in problem and "expected a number" in problem for problem in link.problems)
    assert any("colour" in problem and "unknown" in problem for problem in link.problems)
    assert any("example='nope'" in problem and "sonnets" in problem for problem in link.problems)


def test_build_then_parse_round_trip():
    settings = TrainingSettings(embedding_dim=3, learning_rate=0.2, optimizer="sgd", accumulate_grad=True)

    query = build_query(settings, "Shakespeare's sonnets (1609)", 12.0)
    params = dict(pair.split("=") for pair in query.split("&"))
    link = parse_query(params)

    assert link.settings == settings
    assert link.example == "Shakespeare's sonnets (1609)"
    assert link.pace_seconds == 12


def test_build_defaults_is_empty():
    assert build_query(TrainingSettings(), None, 0) == ""

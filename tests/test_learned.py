"""Did the tune learn? The verdict from loss curves of known shape, and the held-out slice."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from ftdecide.tune._holdout import MIN_EXAMPLES, MIN_VALID, holdout
from ftdecide.tune._learned import MIN_DROP, learned, tune_longer_hint


def curve(train, valid=None):
    rows = [{"step": i + 1, "train_loss": t} for i, t in enumerate(train)]
    for step, v in (valid or []):
        rows.append({"step": step, "valid_loss": v})
    return rows


def test_a_falling_validation_loss_is_learned():
    got = learned(curve([3.0, 2.0, 1.0, 0.5, 0.3, 0.2, 0.2, 0.1, 0.1, 0.1],
                        [(0, 3.2), (5, 0.9), (10, 0.4)]))
    assert got["verdict"] == "learned" and got["judged_on"] == "validation"
    assert got["valid_loss_start"] == 3.2 and got["valid_loss_end"] == 0.4
    assert got["train_loss_start"] == 3.0 and got["train_loss_end"] == 0.1
    assert "3.2 to 0.4" in got["reason"]


def test_a_flat_loss_is_underfit():
    got = learned(curve([3.0, 2.95, 2.9], [(0, 3.1), (3, 2.9)]))
    assert got["verdict"] == "underfit" and "less than a 30% drop" in got["reason"]


def test_one_step_is_underfit_on_training_loss_alone():
    got = learned(curve([4.1, 3.9]))
    assert got["verdict"] == "underfit" and got["judged_on"] == "training"


def test_validation_rising_from_its_low_while_training_falls_is_overfit():
    got = learned(curve([3, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.01],
                        [(0, 3.0), (3, 1.0), (6, 1.4), (10, 1.9)]))
    assert got["verdict"] == "overfit" and "then rose to 1.9" in got["reason"]


def test_no_curve_is_unknown():
    assert learned([])["verdict"] == "unknown"
    assert learned(None)["verdict"] == "unknown"
    assert learned([{"step": 1, "train_loss": float("nan")}])["verdict"] == "unknown"


@given(st.lists(st.floats(min_value=0.01, max_value=10), min_size=2, max_size=60),
       st.floats(min_value=0.01, max_value=0.99))
def test_a_curve_scaled_down_by_more_than_the_threshold_is_learned(losses, factor):
    start = losses[0]
    end = start * factor
    got = learned(curve([start] * 10 + [end] * 10))
    assert got["verdict"] == ("learned" if factor <= 1 - MIN_DROP + 1e-12 else "underfit")


def test_tune_longer_hint_names_the_source_file_and_more_epochs():
    hint = tune_longer_hint({"base_model": "openai/gpt-4o-mini", "train_path": "/x/split/train.jsonl",
                             "hyperparameters": {"epochs": 1},
                             "estimate": {"holdout": {"source": "data/train.jsonl"}}})
    assert hint == "ftdecide tune data/train.jsonl --model openai/gpt-4o-mini --epochs 3"
    # a run cut short by max_steps reports the fraction of an epoch it covered (hf: 12 steps of
    # 45 an epoch); the hint still asks for a whole number of epochs, never 0
    cut = tune_longer_hint({"base_model": "hf/smollm2-135m", "train_path": "t.jsonl",
                            "hyperparameters": {"epochs": 0.27}, "total_steps": 12})
    assert cut == "ftdecide tune t.jsonl --model hf/smollm2-135m --epochs 1"


def _write(path, n):
    path.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}) + "\n"
        for i in range(n)))
    return path


def test_holdout_is_seeded_disjoint_and_written_only_when_asked(tmp_path):
    path = _write(tmp_path / "t.jsonl", 48)
    a = holdout(str(path), seed=0)
    assert a == holdout(str(path), seed=0) and a.valid_examples == MIN_VALID
    assert a.train_examples == 40 and list(tmp_path.iterdir()) == [path]  # nothing written yet
    a.write(tmp_path / "train.jsonl", tmp_path / "valid.jsonl")
    train = [json.loads(line) for line in open(tmp_path / "train.jsonl")]
    valid = [json.loads(line) for line in open(tmp_path / "valid.jsonl")]
    assert len(train) == 40 and len(valid) == 8
    assert not {json.dumps(x) for x in train} & {json.dumps(x) for x in valid}
    assert holdout(str(path), seed=1).valid_indices != a.valid_indices
    assert holdout(str(_write(tmp_path / "small.jsonl", MIN_EXAMPLES - 1))) is None
    assert holdout(str(_write(tmp_path / "big.jsonl", 300))).valid_examples == 30


def test_a_tune_without_validation_holds_out_a_slice_and_reports_learned(tmp_path, monkeypatch,
                                                                       capsys):
    """Through the real CLI on the local OpenAI-compatible server: the job gets a validation
    file (uploaded), the summary says what was held out and whether it learned."""
    from ftdecide.cli.main import main
    from ftdecide.plugins import Registry, set_registry
    from ftdecide.testing import OpenAICompatibleServer

    path = _write(tmp_path / "train.jsonl", 60)
    with OpenAICompatibleServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-learned")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0.01")
        set_registry(Registry())
        try:
            main(["tune", str(path), "--model", "openai/gpt-4o-mini-2024-07-18", "--yes", "--json"])
        except SystemExit as exc:
            assert exc.code == 0
        out, err = capsys.readouterr()
        job = json.loads(out)
        body = server.calls("POST", "/v1/fine_tuning/jobs")[0].json
    assert body.get("validation_file")
    assert job["estimate"]["holdout"]["valid_examples"] == 8
    assert job["estimate"]["holdout"]["source"] == str(path)
    assert "held out 8 of 60 training examples" in err
    assert job["learned"]["verdict"] in ("learned", "underfit", "overfit", "unknown")
    assert set(job["learned"]) >= {"train_loss_start", "train_loss_end", "valid_loss_start",
                                   "valid_loss_end", "verdict"}


def test_validation_measured_only_after_training_began_is_judged_from_the_first_training_loss():
    """Hosted services report validation loss at epoch ends, never before the first update:
    the start is then the first training loss (same kind of examples), not a later valid loss."""
    rows = curve([2.5, 1.9, 1.4, 1.0, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2],
                 [(5, 0.8), (10, 0.3)])
    got = learned(rows)
    assert got["verdict"] == "learned" and got["judged_on"].startswith("validation (start")
    assert got["valid_loss_start"] == 0.8 and got["valid_loss_end"] == 0.3
    flat = learned(curve([2.5, 2.5, 2.49, 2.5, 2.48, 2.5, 2.49, 2.5, 2.5, 2.49], [(5, 2.6), (10, 2.6)]))
    assert flat["verdict"] == "underfit"


def test_noise_near_zero_after_a_large_fall_is_not_overfit():
    got = learned(curve([1.2, 0.6, 0.2, 0.05, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01],
                        [(0, 1.1), (3, 0.010), (6, 0.012), (10, 0.018)]))
    assert got["verdict"] == "learned"

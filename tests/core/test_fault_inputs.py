"""Odd inputs found by the fault suite: stored as the number they are, or one warning that says
what was wrong and what to do; bad media input is never mistaken for a disk fault."""

import decimal
import fractions
import io
import warnings

import pytest

import seetrain
from tests.core._scripts import assert_seqs_complete, lines, meta

np = pytest.importorskip("numpy")
PIL = pytest.importorskip("PIL.Image")


def _run(logdir, *rows, steps=None, **init):
    """Log ``rows`` (at ``steps``) in a fresh run and finish it; returns (run, SeeTrain warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = seetrain.init(project="p", system_metrics=False, console="off", **init)
        for i, row in enumerate(rows):
            run.log(row, step=None if steps is None else steps[i])
        run.finish()
    return run, [str(w.message) for w in caught if issubclass(w.category, seetrain.SeeTrainWarning)]


def _metrics(run):
    return [r["data"] for r in lines(run.dir) if r["type"] == "metrics"]


# --- numbers -----------------------------------------------------------------------------------
def test_numpy_longdouble_is_logged_as_a_float(logdir):
    run, msgs = _run(logdir, {"ld": np.longdouble(1.5), "ld0": np.array(np.longdouble(2.25)), "x": 1.0})
    assert msgs == []
    assert _metrics(run) == [{"ld": 1.5, "ld0": 2.25, "x": 1.0}]
    assert seetrain.read_run(run.dir).scalars("ld").values == [1.5]


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="long double is float64 on this platform")
def test_longdouble_beyond_float64_is_skipped_with_the_reason(logdir):
    run, msgs = _run(logdir, {"huge": np.longdouble("1e400"), "ok": 1.0})
    assert _metrics(run) == [{"ok": 1.0}]
    assert len(msgs) == 1 and "'huge'" in msgs[0] and "64-bit float" in msgs[0] and "not a scalar" not in msgs[0]


def test_complex_values_say_what_to_log_instead(logdir):
    run, msgs = _run(logdir, {"c": np.complex128(1 + 2j), "pc": 1 + 2j, "ok": 1.0})
    assert _metrics(run) == [{"ok": 1.0}]
    assert len(msgs) == 2 and all("complex" in m and "abs()" in m and "not a scalar" not in m for m in msgs)


def test_decimal_and_fraction_are_floats_wherever_numbers_go(logdir):
    d = decimal.Decimal("1.25")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = seetrain.init(project="p", system_metrics=False, console="off", config={"lr": decimal.Decimal("0.5")})
        run.log({"dec": d, "frac": fractions.Fraction(1, 4), "nested": {"d": d}, "obj": np.array(d, dtype=object)})
        run.summary["best"] = d
        run.finish()
    assert [str(w.message) for w in caught if issubclass(w.category, seetrain.SeeTrainWarning)] == []
    assert _metrics(run) == [{"dec": 1.25, "frac": 0.25, "nested/d": 1.25, "obj": 1.25}]
    m = meta(run.dir)
    assert m["config"]["lr"] == 0.5 and m["summary"]["best"] == 1.25  # numbers, not the strings "0.5", "1.25"


def test_decimal_beyond_float64_is_skipped_with_the_reason(logdir):
    run, msgs = _run(logdir, {"big": decimal.Decimal("1e400"), "ok": 1.0})
    assert _metrics(run) == [{"ok": 1.0}]
    assert len(msgs) == 1 and "'big'" in msgs[0] and "64-bit float" in msgs[0] and "integer" not in msgs[0]


def test_step_beyond_int64_is_refused_at_log_time(logdir):
    run, msgs = _run(logdir, {"a": 1.0}, {"a": 2.0}, {"a": 3.0}, steps=[5, 2**70, np.uint64(2**63)])
    assert len(msgs) == 1 and "step=1180591620717411303424" in msgs[0] and "64-bit" in msgs[0]
    r = seetrain.read_run(run.dir)
    assert r.scalars("a").steps == [5, 6, 7] and all(type(s) is int for s in r.scalars("a").steps)
    assert meta(run.dir)["last_step"] == 7


def test_step_beyond_int64_raises_in_strict_mode(logdir):
    run = seetrain.init(project="p", system_metrics=False, console="off", strict=True)
    with pytest.raises(seetrain.SeeTrainError, match="64-bit"):
        run.log({"a": 1.0}, step=2**63)
    run.log({"a": 1.0}, step=2**63 - 1)  # the largest step there is
    run.finish()
    assert seetrain.read_run(run.dir).scalars("a").steps == [2**63 - 1]


# --- media that cannot be decoded --------------------------------------------------------------
def _bad_media_checks(run, msgs, key):
    """One warning naming ``key`` (and none about records.jsonl), the other keys kept, nothing lost."""
    assert len(msgs) == 1, msgs
    assert f"{key!r}" in msgs[0] and "records.jsonl" not in msgs[0] and "lost" not in msgs[0]
    recs = lines(run.dir)
    assert_seqs_complete(recs)
    assert not [r for r in recs if r.get("event") == "lost"]
    m = meta(run.dir)
    assert m["lost"] == 0 and m["status"] == "success"
    r = seetrain.read_run(run.dir)
    assert r.scalars("loss").values == [0.5] and r.media(key) == []


def test_text_file_given_to_image_is_one_warning_not_a_write_fault(logdir, tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("not an image\n")
    run, msgs = _run(logdir, {"img": seetrain.Image(str(txt)), "loss": 0.5})
    _bad_media_checks(run, msgs, "img")
    assert str(txt) in msgs[0] and "not an image" in msgs[0]


def test_truncated_image_found_by_the_media_thread_is_not_a_write_fault(logdir, tmp_path):
    buf = io.BytesIO()
    PIL.fromarray(np.random.randint(0, 255, (64, 64, 3), np.uint8)).save(buf, format="PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.getvalue()[:300])  # a PNG header, then nothing: only decoding finds out
    run, msgs = _run(logdir, {"img": seetrain.Image(str(cut)), "loss": 0.5})
    _bad_media_checks(run, msgs, "img")
    assert "could not be decoded" in msgs[0]


def test_histogram_with_edges_out_of_order(logdir):
    run, msgs = _run(logdir, {"h": seetrain.Histogram(bins=[0, 2, 1], counts=[1, 1]), "loss": 0.5})
    _bad_media_checks(run, msgs, "h")
    assert "increase" in msgs[0]
    assert "increase" in seetrain.Histogram(values=[0.5, 1.5], bins=[0, 2, 1]).error
    assert "increase" in seetrain.Histogram(bins=[0, float("nan"), 1], counts=[1, 1]).error


def test_audio_path_that_is_not_a_wav(logdir, tmp_path):
    txt = tmp_path / "a.wav"
    txt.write_bytes(b"definitely not RIFF")
    run, msgs = _run(logdir, {"au": seetrain.Audio(str(txt)), "loss": 0.5})
    _bad_media_checks(run, msgs, "au")
    assert str(txt) in msgs[0] and "WAV" in msgs[0]


def test_strict_mode_raises_for_media_that_cannot_be_decoded(logdir, tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("not an image\n")
    buf = io.BytesIO()
    PIL.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buf, format="PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.getvalue()[:60])
    run = seetrain.init(project="p", system_metrics=False, console="off", strict=True)
    with pytest.raises(seetrain.SeeTrainError, match="'img'.*not an image"):
        run.log({"img": seetrain.Image(str(txt)), "loss": 0.5})
    with pytest.raises(seetrain.SeeTrainError, match="'h'.*increase"):
        run.log({"h": seetrain.Histogram(bins=[0, 2, 1], counts=[1, 1])})
    run.log({"img": seetrain.Image(str(cut))})  # only the media thread can tell: the next log() raises
    run.flush()
    with pytest.raises(seetrain.SeeTrainError, match="'img'.*could not be decoded"):
        run.log({"loss": 0.25})
    run.log({"loss": 0.125})
    run.finish()
    assert meta(run.dir)["lost"] == 0
    assert seetrain.read_run(run.dir).scalars("loss").values == [0.125]

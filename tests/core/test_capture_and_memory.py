"""Console capture, the queue's byte bound, media read at log() time, online-mode plumbing."""

import os
import warnings

import pytest

import seetrain
from tests.core._scripts import lines, meta, run_script

CONSOLE = """
    import sys, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False, console=sys.argv[2])
    print("epoch 1: loss 0.5")
    print("no newline yet", end="")
    print(" ... now")
    sys.stderr.write("progress 10%\\rprogress 100%\\n")
    run.finish()
    print("after finish")
    print(run.dir)
"""


@pytest.mark.parametrize("console", ["on", "off"])
def test_console_lines_are_captured_unless_off(tmp_path, console):
    out = run_script(tmp_path, CONSOLE, console)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:3] == ["epoch 1: loss 0.5", "no newline yet ... now", "after finish"]
    got = [(r["stream"], r["line"]) for r in lines(out.stdout.split()[-1]) if r["type"] == "console"]
    if console == "off":
        assert got == []
    else:
        assert got == [("stdout", "epoch 1: loss 0.5"), ("stdout", "no newline yet ... now"),
                       ("stderr", "progress 100%")]


MEMORY = """
    import sys, tracemalloc, numpy as np, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False, max_queue_bytes=32 << 20)
    frame = np.zeros((1000, 1000, 3), np.uint8)
    tracemalloc.start()                          # counts the bytes Python and numpy hold, not the OS's RSS
    base = tracemalloc.get_traced_memory()[0]
    for i in range(60):                          # 60 x 3 MB of images, logged faster than PNG encodes
        frame[i] = i
        run.log({"img": seetrain.Image(frame)})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    run.finish()
    print(run.dir, (peak - base) / 2**20)
"""


def test_queue_is_bounded_in_bytes(tmp_path):
    pytest.importorskip("PIL")
    out = run_script(tmp_path, MEMORY, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    run_dir, grew_mb = out.stdout.split()
    assert float(grew_mb) < 64, grew_mb  # the 32 MB queue plus images being encoded (~43 MB); unbounded: ~178 MB
    assert len([r for r in lines(run_dir) if r["type"] == "metrics"]) == 60
    assert "waits for the writer" in out.stderr


def test_path_media_are_read_at_log_time(logdir, tmp_path):
    np = pytest.importorskip("numpy")
    PIL = pytest.importorskip("PIL.Image")
    import wave

    img_path, wav_path = tmp_path / "a.png", tmp_path / "a.wav"
    PIL.fromarray(np.full((4, 4, 3), 10, np.uint8)).save(img_path)
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\1\0" * 80)
    run = seetrain.init(project="p", system_metrics=False, flush_interval=60)
    run.log({"img": seetrain.Image(str(img_path)), "wav": seetrain.Audio(str(wav_path))})
    PIL.fromarray(np.full((9, 9, 3), 200, np.uint8)).save(img_path)  # the file changes after log()
    os.remove(wav_path)
    run.finish()
    data = [r["data"] for r in lines(run.dir) if r["type"] == "metrics"][0]
    stored = np.asarray(PIL.open(os.path.join(run.dir, data["img"]["path"])))
    assert stored.shape == (4, 4, 3) and stored.max() == 10
    assert data["wav"]["duration"] == pytest.approx(0.01)


def test_online_mode_whose_sender_cannot_start_still_writes_locally(logdir, monkeypatch):
    monkeypatch.delenv("SEETRAIN_HOST", raising=False)  # no server given: the sender refuses to start
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = seetrain.init(project="p", mode="online", system_metrics=False)
        run.log({"x": 1})
        run.finish()
    msgs = [str(w.message) for w in caught if issubclass(w.category, seetrain.SeeTrainWarning)]
    assert any("mode='online'" in m and "seetrain sync" in m for m in msgs), msgs
    m = meta(run.dir)
    assert m["mode"] == "online" and m["status"] == "success"
    assert [r["data"] for r in lines(run.dir) if r["type"] == "metrics"] == [{"x": 1}]

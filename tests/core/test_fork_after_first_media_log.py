"""A process forked while the media thread writes the run's first image, table or audio: the
children's own runs end and hold their own media.

A module that a background thread imports for the first time is locked by that thread while it
loads; a fork then hands the child a half-imported module whose lock no thread will ever release,
and the child hangs the first time it imports that module (here its main thread, reading an image
or WAV file as a data loader worker would: Pillow, ``wave``). So the modules a media value is
written with are imported when the value is made, in the caller's thread (``seetrain.media``).
Before that fix the image and table cases hung children in 2 of 2 runs each; audio did not (the
``wave`` import lasts about a millisecond), so its case guards the fix rather than finding the bug.
"""

import wave

import pytest

from ._scripts import lines, meta, run_script

pytest.importorskip("numpy")
PILImage = pytest.importorskip("PIL.Image")

# kind -> (what the parent logs, made from an array; what each child logs, made from a file it
# reads as a data loader worker would: Pillow or ``wave`` imported in the child's main thread)
MEDIA = {
    "image": ("seetrain.Image(np.zeros((8, 8, 3)))", "seetrain.Image(sys.argv[2])"),
    "table": ("seetrain.Table(columns=['input', 'label'], data=[[seetrain.Image(np.zeros((4, 4))), 'cat']])",
              "seetrain.Table(columns=['input', 'label'], data=[[seetrain.Image(sys.argv[2]), 'cat']])"),
    "audio": ("seetrain.Audio(np.zeros(800), sample_rate=8000)", "seetrain.Audio(sys.argv[3])"),
}

# Children forked 0-60 ms after the parent's first media log, while its media thread is still
# writing that value; each child then logs the same kind of media into a run of its own.
FORK_AFTER_FIRST_MEDIA_LOG = """
    import os, sys, time
    import numpy as np
    import seetrain

    # flush_interval: the writer hands the media value to the media thread within 10 ms
    parent = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False, flush_interval=0.01)
    parent.log({{"x": 1}})
    parent.flush()  # the scalar path's first write-out is done: only the media thread is busy below
    parent.log({{"m": {parent_media}}})
    start = time.monotonic()
    children = {{}}
    for delay in (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.045, 0.06):
        while time.monotonic() - start < delay:
            pass
        pid = os.fork()
        if pid == 0:
            own = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
            own.log({{"child_media": {child_media}}})
            os.write(1, (own.dir + "\\n").encode())  # one write: the children run side by side
            sys.exit(0)
        children[pid] = delay
    deadline = time.monotonic() + 30
    while children:
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if os.waitstatus_to_exitcode(status) != 0:
                    sys.exit(f"the child forked {{children[pid]}} s after the first media log exited with "
                             f"{{os.waitstatus_to_exitcode(status)}}")
                del children[pid]
        if time.monotonic() > deadline:
            for pid in children:
                os.kill(pid, 9)
            sys.exit(f"the children forked {{sorted(children.values())}} s after the first media log did not end")
        time.sleep(0.01)
    parent.finish()
"""


@pytest.mark.parametrize("kind", sorted(MEDIA))
def test_children_forked_during_the_first_media_write_end_with_their_runs(tmp_path, kind):
    png, wav = tmp_path / "in.png", tmp_path / "in.wav"
    PILImage.new("RGB", (4, 3), "red").save(png)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(1600))
    parent_media, child_media = MEDIA[kind]
    script = FORK_AFTER_FIRST_MEDIA_LOG.format(parent_media=parent_media, child_media=child_media)
    out = run_script(tmp_path, script, str(png), str(wav), timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    child_dirs = out.stdout.split()
    assert len(child_dirs) == 8, out.stdout + out.stderr[-3000:]
    for d in child_dirs:
        assert meta(d)["status"] == "success"
        logged = [r["data"] for r in lines(d) if r["type"] == "metrics"]
        assert [list(data) for data in logged] == [["child_media"]]
        assert logged[0]["child_media"]["_type"] == kind

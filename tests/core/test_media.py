"""Media are written as standard files under media/ and referenced from the records."""

import wave

import pytest

import seetrain

np = pytest.importorskip("numpy")
PIL = pytest.importorskip("PIL.Image")


def test_images_from_all_sources(logdir, tmp_path):
    torch = pytest.importorskip("torch")
    src = tmp_path / "in.png"
    PIL.fromarray(np.full((5, 6, 3), 200, np.uint8)).save(src)
    arr = np.random.rand(4, 6, 3)
    run = seetrain.init(project="p", system_metrics=False)
    run.log({"hwc": seetrain.Image(arr, caption="hwc"), "hw": seetrain.Image(np.arange(12).reshape(3, 4)),
             "chw": seetrain.Image(torch.rand(3, 8, 5)), "pil": seetrain.Image(PIL.new("RGB", (7, 2))),
             "file": seetrain.Image(str(src)), "many": [seetrain.Image(arr), seetrain.Image(arr)]})
    arr[:] = 0  # the image was copied when made
    run.finish()
    r = seetrain.read_run(run.dir)
    sizes = {k: (r.media(k)[0]["width"], r.media(k)[0]["height"]) for k in ("hwc", "hw", "chw", "pil", "file")}
    assert sizes == {"hwc": (6, 4), "hw": (4, 3), "chw": (5, 8), "pil": (7, 2), "file": (6, 5)}
    hwc = r.media("hwc")[0]
    assert hwc["caption"] == "hwc" and hwc["type"] == "image" and hwc["path"].endswith(".png")
    assert np.asarray(PIL.open(hwc["path"])).max() > 0
    assert len(r.media("many")) == 2


def test_audio_text_histogram(logdir, tmp_path):
    sr = 8000
    tone = np.sin(2 * np.pi * 440 * np.arange(sr // 4) / sr).astype(np.float32)
    stereo = np.stack([tone, tone])  # channels x samples
    run = seetrain.init(project="p", system_metrics=False)
    run.log({"mono": seetrain.Audio(tone, sample_rate=sr), "stereo": seetrain.Audio(stereo, sample_rate=sr),
             "int16": seetrain.Audio((tone * 1000).astype(np.int16), sample_rate=sr),
             "note": seetrain.Text("héllo 世界"), "auto_text": "plain strings become Text",
             "hist": seetrain.Histogram(np.random.randn(1000), bins=10),
             "pre": seetrain.Histogram(bins=[0, 1, 2], counts=[3, 4])})
    run.finish()
    r = seetrain.read_run(run.dir)
    with wave.open(r.media("stereo")[0]["path"]) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, sr, sr // 4)
    assert r.media("mono")[0]["duration"] == pytest.approx(0.25)
    assert open(r.media("note")[0]["path"], encoding="utf-8").read() == "héllo 世界"
    assert r.media("auto_text")[0]["type"] == "text"
    h = r.media("hist")[0]
    assert sum(h["counts"]) == 1000 and len(h["bins"]) == 11
    assert r.media("pre")[0]["counts"] == [3, 4]
    wav_in = tmp_path / "in.wav"
    with wave.open(str(wav_in), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(sr), w.writeframes(b"\0\0" * 100)
    run2 = seetrain.init(project="p", system_metrics=False)
    run2.log({"wav": seetrain.Audio(str(wav_in))})
    run2.finish()
    assert seetrain.read_run(run2.dir).media("wav")[0]["sample_rate"] == sr


def test_bad_media_are_reported_not_raised(logdir):
    assert "sample_rate" in seetrain.Audio(np.zeros(10)).error
    assert "does not exist" in seetrain.Image("/no/such.png").error
    assert "bin edges" in seetrain.Histogram(bins=[0, 1], counts=[1, 2]).error

"""multimodal-training plugin: data from files/arrays/manifests, tiny CLIP/ViT/Wav2Vec2 and custom
encoders on the APT language model, and each fusion method learning a task that needs all three
modalities (label = 4*red + 2*high tone + "urgent" in the text; two modalities reach at most 50 %)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import seetrain  # noqa: E402
from seetrain.apt.model import APTConfig, APTLanguageModel  # noqa: E402
from seetrain.apt.plugins.base import PluginManager  # noqa: E402
from seetrain.apt.plugins.multimodal.data import save_wav  # noqa: E402
from seetrain.apt.plugins.multimodal.synthetic import make_synthetic_multimodal  # noqa: E402
from seetrain.apt.plugins.multimodal_training import MultimodalTrainingPlugin  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def apt_backbone(seed=0):
    torch.manual_seed(seed)
    return APTLanguageModel(APTConfig(d_model=32, n_heads=2, n_layers=1, rank=8, max_seq_len=64))


def accuracy_without(plugin, model, loader, modality_index):
    """Eval accuracy when one modality is marked missing in every sample."""
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for batch in loader:
            batch = dict(batch, modality_mask=batch["modality_mask"].clone())
            batch["modality_mask"][:, modality_index] = False
            correct += int((model(**batch).logits.argmax(-1) == batch["labels"]).sum())
            seen += len(batch["labels"])
    return correct / seen


def test_dataloader_reads_files_arrays_manifests_and_missing_modalities(tmp_path):
    from PIL import Image

    data = make_synthetic_multimodal(6, seed=3, out_dir=str(tmp_path / "set"))
    plugin = MultimodalTrainingPlugin()
    from_files = next(iter(plugin.create_multimodal_dataloader(data["manifest"][0], batch_size=6, shuffle=False)))
    from_arrays = next(iter(plugin.create_multimodal_dataloader(
        data["text"], data["image"], data["audio"], data["label"], batch_size=6, shuffle=False)))
    assert from_files["pixel_values"].shape == (6, 3, 32, 32)
    assert from_files["audio_values"].shape == (6, 2000)
    assert torch.equal(from_files["pixel_values"], from_arrays["pixel_values"])  # PNG is lossless
    assert torch.allclose(from_files["audio_values"], from_arrays["audio_values"], atol=2e-3)  # 16-bit WAV
    assert torch.equal(from_files["input_ids"], from_arrays["input_ids"])
    assert from_files["labels"].tolist() == data["label"]
    assert from_files["modality_mask"].all()
    text = plugin.processor().tokenizer.decode(from_files["input_ids"][0])
    assert text == data["text"][0]

    # PIL images, tensors, (array, rate) audio resampled from 16 kHz, WAV at another rate, missing entries
    wav16 = save_wav(str(tmp_path / "t16.wav"), np.sin(np.linspace(0, 400, 4000)).astype(np.float32), 16000)
    pil = Image.fromarray(data["image"][0]).resize((64, 64))
    loader = plugin.create_multimodal_dataloader(
        ["a", None, "c", "d"], [pil, torch.rand(3, 32, 32), None, data["image"][1]],
        [wav16, None, (np.zeros(500, np.float32), 2000), data["audio"][2]], batch_size=4, shuffle=False)
    batch = next(iter(loader))
    assert batch["modality_mask"].tolist() == [[True, True, True], [False, True, False],
                                                [True, False, True], [True, True, True]]
    assert "labels" not in batch
    assert batch["pixel_values"][2].abs().sum() == 0 and batch["audio_values"][1].abs().sum() == 0
    assert batch["audio_values"].shape == (4, 2000)

    with pytest.raises(ValueError, match="different lengths"):
        plugin.create_multimodal_dataloader(["a", "b"], [None], None)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "ok", "label": 1}) + "\n[1, 2]\n")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        plugin.create_multimodal_dataloader(str(bad))
    with pytest.raises(FileNotFoundError, match="nope.png"):
        plugin.create_multimodal_dataloader(["x"], ["nope.png"], None).dataset[0]


@pytest.mark.parametrize("fusion,vision,audio", [
    ("concatenate", "clip", "wav2vec2"),
    ("add", "vit", "custom"),
    ("attention", "custom", "wav2vec2"),
])
def test_each_fusion_method_learns_a_task_that_needs_all_modalities(fusion, vision, audio, logdir):
    train = make_synthetic_multimodal(320, seed=1)
    test = make_synthetic_multimodal(160, seed=2)
    run = seetrain.init(project="multimodal", config={"fusion": fusion})
    plugin = MultimodalTrainingPlugin({"vision_encoder": vision, "audio_encoder": audio, "learning_rate": 1e-3})
    loader = plugin.create_multimodal_dataloader(train["text"], train["image"], train["audio"], train["label"],
                                                 batch_size=32, seed=0)
    eval_loader = plugin.create_multimodal_dataloader(test["text"], test["image"], test["audio"], test["label"],
                                                      batch_size=80, shuffle=False)
    torch.manual_seed(0)
    model = plugin.create_multimodal_model(apt_backbone(), fusion, num_classes=8)
    epochs = 5
    history = plugin.train_multimodal(model, loader, num_epochs=epochs, eval_dataloader=eval_loader)

    final = history["eval_accuracy"][-1]
    assert final >= 0.75, f"{fusion}: held-out accuracy {final:.2f} (chance 0.125, two modalities at most 0.5)"
    assert history["loss"][-1] < history["loss"][0] * 0.5
    # the model really combines the modalities: without the text it drops to about the 2-of-3 ceiling
    assert accuracy_without(plugin, model, eval_loader, 0) <= 0.65
    assert accuracy_without(plugin, model, eval_loader, 2) <= 0.65
    run.finish()

    r = seetrain.read_run(run.dir)
    loss = r.scalars("multimodal/train/loss")
    assert loss.steps == list(range(1, epochs * len(loader) + 1))
    acc = r.scalars("multimodal/eval/accuracy")
    assert acc.steps == [len(loader) * (e + 1) for e in range(epochs)]
    assert acc.values == pytest.approx(history["eval_accuracy"])
    assert r.scalars("multimodal/samples_per_s").values[-1] > 0
    assert r.config["multimodal"]["fusion_method"] == fusion
    assert r.config["multimodal"]["vision_encoder"] == vision


def test_missing_modalities_inference_and_the_missing_embedding(tmp_path, logdir):
    data = make_synthetic_multimodal(4, seed=5, out_dir=str(tmp_path / "d"))
    run = seetrain.init(project="multimodal-infer")
    plugin = MultimodalTrainingPlugin(vision_encoder="clip", audio_encoder="wav2vec2", fusion_method="attention")
    torch.manual_seed(0)
    model = plugin.create_multimodal_model(apt_backbone(), num_classes=3)
    image, wav = str(tmp_path / "d" / "img_0000.png"), str(tmp_path / "d" / "tone_0000.wav")

    full = plugin.inference_multimodal(model, text=data["text"][0], image=image, audio_path=wav)
    assert full["modalities"] == ["text", "image", "audio"]
    assert sum(full["probabilities"]) == pytest.approx(1.0) and full["prediction"] in (0, 1, 2)
    only_text = plugin.inference_multimodal(model, text=data["text"][0])
    only_audio = plugin.inference_multimodal(model, audio=data["audio"][0])
    assert only_text["modalities"] == ["text"] and only_audio["modalities"] == ["audio"]
    assert not torch.allclose(full["embedding"], only_text["embedding"])
    with pytest.raises(ValueError, match="at least one"):
        plugin.inference_multimodal(model)

    # a batch with a missing image trains the learned "missing image" embedding
    loader = plugin.create_multimodal_dataloader(data["text"], [None, image, None, image], data["audio"],
                                                 [0, 1, 2, 0], batch_size=4, shuffle=False)
    batch = next(iter(loader))
    model.train()
    model(**batch).loss.backward()
    assert model.missing["image"].grad is not None and model.missing["image"].grad.abs().sum() > 0
    assert model.missing["audio"].grad is None or model.missing["audio"].grad.abs().sum() == 0
    run.finish()
    assert len(seetrain.read_run(run.dir).scalars("multimodal/inference/ms").values) == 3


def test_encoders_from_local_pretrained_directories_and_bad_options(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel, Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(1)
    clip = CLIPVisionModel(CLIPVisionConfig(image_size=48, patch_size=16, hidden_size=24, intermediate_size=48,
                                            num_hidden_layers=1, num_attention_heads=2))
    clip.save_pretrained(tmp_path / "clip")
    w2v = Wav2Vec2Model(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32, conv_dim=(16, 16), conv_stride=(5, 4),
                                       conv_kernel=(10, 8), num_conv_pos_embeddings=8,
                                       num_conv_pos_embedding_groups=2))
    w2v.save_pretrained(tmp_path / "w2v")

    plugin = MultimodalTrainingPlugin(vision_pretrained=str(tmp_path / "clip"), audio_pretrained=str(tmp_path / "w2v"))
    model = plugin.create_multimodal_model(apt_backbone(), "add", num_classes=2)
    loaded = model.encoders["image"].model.state_dict()
    for k, v in clip.state_dict().items():
        assert torch.equal(loaded[k], v)
    assert model.processor.image_size == 48  # the processor follows the pretrained encoder
    out = plugin.inference_multimodal(model, text="hi", image=np.zeros((20, 30, 3), np.uint8),
                                      audio=np.zeros(1000, np.float32))
    assert len(out["probabilities"]) == 2

    apt_dir = str(tmp_path / "apt")
    apt_backbone(3).save_pretrained(apt_dir)
    from_dir = MultimodalTrainingPlugin(vision_encoder="custom", audio_encoder="custom").create_multimodal_model(
        apt_dir, "concatenate", num_classes=2)
    assert isinstance(from_dir.encoders["text"].base, APTLanguageModel)

    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        MultimodalTrainingPlugin(vision_pretrained=str(tmp_path / "missing")).create_multimodal_model(apt_backbone())
    with pytest.raises(ValueError, match="fusion_method"):
        MultimodalTrainingPlugin(vision_encoder="custom", audio_encoder="custom").create_multimodal_model(
            apt_backbone(), "multiply")
    with pytest.raises(ValueError, match="vision_encoder"):
        MultimodalTrainingPlugin(vision_encoder="resnet").create_multimodal_model(apt_backbone())


def test_plugin_is_registered_and_records_its_setup(logdir):
    run = seetrain.init(project="multimodal-plugin")
    manager = PluginManager.from_config({"multimodal-training": {"enabled": True, "fusion_method": "add",
                                                                 "vision_encoder": "vit"}})
    plugin = manager.get("multimodal-training")
    assert isinstance(plugin, MultimodalTrainingPlugin) and plugin.config["fusion_method"] == "add"
    manager.call("on_training_start", {"run": run})
    run.finish()
    cfg = seetrain.read_run(run.dir).config["multimodal_plugin"]
    assert cfg["fusion_method"] == "add" and cfg["vision_encoder"] == "vit" and cfg["sample_rate"] == 8000

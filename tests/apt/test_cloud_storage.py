"""cloud-storage plugin against a real S3-compatible server (moto in server mode on 127.0.0.1) and a
local folder: uploads, resumable multipart, incremental sync, checksums, backups and rotation."""

from __future__ import annotations

import hashlib
import os
import warnings

import pytest

torch = pytest.importorskip("torch")
boto3 = pytest.importorskip("boto3")

import seetrain  # noqa: E402
from seetrain.apt.plugins.base import PluginManager  # noqa: E402
from seetrain.apt.plugins.cloud_storage import CloudStoragePlugin  # noqa: E402
from seetrain.apt.plugins.storage import (ChecksumMismatchError, StorageCredentialsError,  # noqa: E402
                                          StorageError, make_backend)

MIB = 1024 * 1024
SECRET = "sEcReT-never-logged-42"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch, request):
    """A fresh bucket on the moto server; returns (endpoint, bucket, boto3 client)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = "b-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    return s3_server, bucket, client


def s3_plugin(s3, tmp_path, **extra):
    endpoint, bucket, _ = s3
    return CloudStoragePlugin({"provider": "aws", "bucket": bucket, "prefix": "exp", "endpoint_url": endpoint,
                               "state_dir": str(tmp_path / "upload-state"), **extra})


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def write(path, data: bytes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def test_model_roundtrip_through_s3_is_logged_without_credentials(s3, tmp_path, logdir):
    from safetensors.torch import load_file

    run = seetrain.init(project="cloud", config={"lr": 0.1})
    plugin = s3_plugin(s3, tmp_path, credentials={"aws_access_key_id": "testing", "aws_secret_access_key": SECRET})
    # moto accepts any secret; the point is that it never reaches the run directory
    plugin.on_training_start({"run": run})
    model = tiny_model()
    up = plugin.upload_model(model, "models/final")
    keys = [o["Key"] for o in s3[2].list_objects_v2(Bucket=s3[1])["Contents"]]
    assert keys == ["exp/models/final/model.safetensors"]
    out = plugin.download_model("models/final", str(tmp_path / "restored"))
    state = load_file(os.path.join(out, "model.safetensors"))
    for name, value in model.state_dict().items():
        assert torch.equal(state[name], value)
    run.finish()

    r = seetrain.read_run(run.dir)
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    assert r.scalars("cloud/upload/bytes").values == [size] == [up["bytes"]]
    assert r.scalars("cloud/download/verified_files").values == [1]
    assert r.scalars("cloud/download/bytes").values == [size]
    assert r.scalars("cloud/upload/seconds").values[0] > 0
    assert r.config["cloud_storage"]["provider"] == "aws"
    for root, _dirs, files in os.walk(run.dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                assert SECRET.encode() not in fh.read(), f"the secret leaked into {name}"
    assert SECRET not in repr(plugin)


def test_interrupted_multipart_upload_resumes_with_missing_parts_only(s3, tmp_path):
    endpoint, bucket, client = s3
    plugin = s3_plugin(s3, tmp_path, multipart_threshold=5 * MIB, part_size=5 * MIB)
    data = os.urandom(15 * MIB + 123_457)  # 4 parts: 5 + 5 + 5 MiB + a short last one
    src = tmp_path / "big.bin"
    write(str(src), data)

    class Interrupted(Exception):
        pass

    sent = []

    def cut_after_two(done, total):
        sent.append(done)
        if len(sent) == 2:
            raise Interrupted("connection lost")

    with pytest.raises(Interrupted):
        plugin.upload_model(str(src), "ckpt/big.bin", progress=cut_after_two)
    state_files = os.listdir(tmp_path / "upload-state")
    assert len(state_files) == 1
    pending = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert len(pending) == 1
    assert len(client.list_parts(Bucket=bucket, Key="exp/ckpt/big.bin", UploadId=pending[0]["UploadId"])["Parts"]) == 2
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)

    resumed = []
    stats = plugin.upload_model(str(src), "ckpt/big.bin", progress=lambda d, t: resumed.append(d))
    assert stats["parts_resumed"] == 2 and stats["parts_uploaded"] == 2
    assert stats["bytes"] == len(data) - 10 * MIB  # only the missing parts went up
    assert resumed == [15 * MIB, len(data)]
    body = client.get_object(Bucket=bucket, Key="exp/ckpt/big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert os.listdir(tmp_path / "upload-state") == []
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")

    small_parts = s3_plugin(s3, tmp_path, multipart_threshold=MIB, part_size=MIB)
    with pytest.raises(ValueError, match="5 MiB"):  # refused before anything is sent
        small_parts.upload_model(str(src), "ckpt/small-parts.bin")

    # and the downloaded copy checks out against the SHA-256 recorded at upload
    out = plugin.download_model("ckpt/big.bin", str(tmp_path / "back.bin"))
    assert plugin.last_stats["verified_files"] == 1
    assert open(out, "rb").read() == data


def test_changed_file_restarts_a_stale_multipart_upload(s3, tmp_path):
    plugin = s3_plugin(s3, tmp_path, multipart_threshold=5 * MIB, part_size=5 * MIB)
    src = str(tmp_path / "big.bin")
    write(src, os.urandom(11 * MIB))

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        plugin.upload_model(src, "big.bin", progress=stop)
    new = os.urandom(11 * MIB)
    write(src, new)  # the file changed: the old parts must not be reused
    stats = plugin.upload_model(src, "big.bin")
    assert stats["parts_resumed"] == 0 and stats["parts_uploaded"] == 3
    assert s3[2].get_object(Bucket=s3[1], Key="exp/big.bin")["Body"].read() == new
    assert not s3[2].list_multipart_uploads(Bucket=s3[1]).get("Uploads")


@pytest.mark.parametrize("provider", ["aws", "local"])
def test_sync_is_incremental_and_idempotent(provider, s3, tmp_path, logdir):
    if provider == "aws":
        plugin = s3_plugin(s3, tmp_path)
    else:
        plugin = CloudStoragePlugin({"provider": "local", "bucket": str(tmp_path / "store"), "prefix": "exp"})
    src = tmp_path / "ckpts"
    for name, size in [("a.bin", 1000), ("sub/b.bin", 2000), ("sub/deep/c.txt", 10)]:
        write(str(src / name), os.urandom(size))
    run = seetrain.init(project="cloud-sync")

    first = plugin.sync_directory(str(src), "sync")
    assert (first["files_uploaded"], first["files_skipped"], first["bytes_uploaded"]) == (3, 0, 3010)
    second = plugin.sync_directory(str(src), "sync")
    assert (second["files_uploaded"], second["files_skipped"], second["bytes_uploaded"]) == (0, 3, 0)

    write(str(src / "sub/b.bin"), os.urandom(2000))  # same size, new content
    write(str(src / "new.bin"), b"x" * 7)
    third = plugin.sync_directory(str(src), "sync")
    assert (third["files_uploaded"], third["files_skipped"], third["bytes_uploaded"]) == (2, 2, 2007)

    os.remove(src / "a.bin")
    fourth = plugin.sync_directory(str(src), "sync", delete=True)
    assert (fourth["files_uploaded"], fourth["files_deleted"]) == (0, 1)
    keys = sorted(o.key for o in plugin.storage.list("sync/"))
    assert keys == ["sync/.seetrain-sync.json", "sync/new.bin", "sync/sub/b.bin", "sync/sub/deep/c.txt"]
    plugin.storage.delete("sync/new.bin")  # gone remotely behind the manifest's back: sent again
    fifth = plugin.sync_directory(str(src), "sync")
    assert (fifth["files_uploaded"], fifth["files_skipped"]) == (1, 2)
    out = plugin.download_model("sync/sub/b.bin", str(tmp_path / "b.bin"))
    assert open(out, "rb").read() == open(src / "sub/b.bin", "rb").read()
    run.finish()
    r = seetrain.read_run(run.dir)
    assert r.scalars("cloud/sync/files_uploaded").values == [3, 0, 2, 0, 1]
    assert r.scalars("cloud/sync/files_skipped").values == [0, 3, 2, 3, 2]


def test_checksum_mismatch_is_detected_and_the_bad_file_removed(s3, tmp_path):
    endpoint, bucket, client = s3
    plugin = s3_plugin(s3, tmp_path)
    src = str(tmp_path / "w.bin")
    write(src, b"good weights" * 100)
    plugin.upload_model(src, "w.bin")
    head = client.head_object(Bucket=bucket, Key="exp/w.bin")
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"good weights" * 100).hexdigest()
    # corrupt the stored object but keep the recorded checksum
    client.put_object(Bucket=bucket, Key="exp/w.bin", Body=b"bad weights!" * 100, Metadata=head["Metadata"])
    target = tmp_path / "dl" / "w.bin"
    with pytest.raises(ChecksumMismatchError, match="checksum mismatch"):
        plugin.download_model("w.bin", str(target))
    assert not target.exists() and not (tmp_path / "dl" / "w.bin.part").exists()

    local = CloudStoragePlugin({"provider": "local", "bucket": str(tmp_path / "store")})
    local.upload_model(src, "m/w.bin")
    write(str(tmp_path / "store" / "m" / "w.bin"), b"tampered")
    with pytest.raises(ChecksumMismatchError):
        local.download_model("m/w.bin", str(tmp_path / "w2.bin"))
    assert not (tmp_path / "w2.bin").exists()
    assert local.download_model("m/w.bin", str(tmp_path / "w3.bin"), verify=False)  # opt-out still works


def test_automatic_backups_rotate_and_restore(s3, tmp_path, logdir):
    from safetensors.torch import load_file

    endpoint, bucket, client = s3
    run = seetrain.init(project="cloud-backup")
    manager = PluginManager()
    manager.enable("cloud-storage", {
        "provider": "local", "bucket": str(tmp_path / "store"), "backup_every_n_epochs": 2, "keep_last_n": 2,
        "destinations": {"s3": {"provider": "aws", "bucket": bucket, "prefix": "mirror", "endpoint_url": endpoint}},
        "auto_backup_destinations": [None, "s3"], "state_dir": str(tmp_path / "state")})
    plugin = manager.get("cloud-storage")
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
    snapshots = {}
    step = 0
    for epoch in range(6):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}
        manager.call("on_epoch_end", {"model": model, "epoch": epoch, "step": step, "run": run})
    names = [b["name"] for b in plugin.list_backups()]
    assert names == ["epoch-0003", "epoch-0005"]  # epoch-0001 rotated out
    assert [b["name"] for b in plugin.list_backups("s3")] == ["epoch-0003", "epoch-0005"]
    assert all(k.startswith("mirror/backups/epoch-000") for k in
               (o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]))

    restored = plugin.restore_from_cloud("epoch-0003", source="s3", local_path=str(tmp_path / "restore"))
    state = load_file(os.path.join(restored, "model.safetensors"))
    for name, value in snapshots[3].items():
        assert torch.equal(state[name], value)
    assert not torch.equal(state["0.weight"], snapshots[5]["0.weight"])
    with pytest.raises(FileNotFoundError, match="epoch-0003"):
        plugin.restore_from_cloud("epoch-0001", local_path=str(tmp_path / "gone"))

    manual = plugin.backup_to_s3(str(tmp_path / "restore" / "model.safetensors"), "manual", bucket=bucket,
                                 endpoint_url=endpoint, prefix="manual")
    assert manual["files"] == 1 and manual["deleted_old"] == 0
    run.finish()
    r = seetrain.read_run(run.dir)
    assert r.scalars("cloud/backup/local/files").steps == [2, 4, 6]
    assert r.scalars("cloud/backup/s3/deleted_old").values == [0, 0, 1]
    assert r.scalars("cloud/restore/files").values == [1]


def test_a_failing_backup_warns_and_training_goes_on(s3, tmp_path, logdir):
    from seetrain.resilience import get_integration_error_stats

    endpoint = s3[0]
    manager = PluginManager()
    manager.enable("cloud-storage", {"provider": "aws", "bucket": "no-such-bucket", "endpoint_url": endpoint,
                                     "backup_every_n_epochs": 1})
    model = tiny_model()
    with pytest.warns(seetrain.SeeTrainWarning, match="no-such-bucket"):
        for epoch in range(2):
            manager.call("on_epoch_end", {"model": model, "epoch": epoch, "step": epoch})
    assert get_integration_error_stats()["cloud-storage.on_epoch_end"]["failures"] >= 2


def test_providers_without_their_sdk_or_credentials_fail_clearly(tmp_path, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))

    for provider, package in [("gcp", "gcsfs"), ("azure", "adlfs"), ("aliyun", "oss2"), ("modelscope", "modelscope")]:
        with pytest.raises(ImportError, match=f"pip install {package}"):
            make_backend(provider, bucket="b")
    with pytest.raises(StorageCredentialsError, match="AWS_ACCESS_KEY_ID"):
        make_backend("aws", bucket="b")
    with pytest.raises(StorageCredentialsError, match="HF_TOKEN"):
        make_backend("huggingface", bucket="me/model")
    hub = make_backend("huggingface", bucket="me/model", credentials={"token": "hf_not_a_real_token"})
    with pytest.raises(StorageError, match="HF_HUB_OFFLINE"):  # the tests run with the Hub offline
        hub.head("model.safetensors")
    with pytest.raises(ValueError, match="unknown cloud-storage provider 'dropbox'"):
        make_backend("dropbox", bucket="b")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match="every destination"):
            CloudStoragePlugin({"provider": "local", "bucket": str(tmp_path / "s")}).backup_to_oss(
                str(tmp_path), "x", bucket="b")

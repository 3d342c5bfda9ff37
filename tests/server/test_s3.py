"""Media through the S3 blob store, against moto's S3-compatible server on loopback."""

from __future__ import annotations

import hashlib

import pytest

from seetrain.sender import Client, RunSync

from .conftest import api, free_port, write_run


@pytest.fixture
def s3_endpoint(monkeypatch):
    pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    port = free_port()
    moto = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield env
    moto.stop()


def test_media_go_to_s3_once_and_come_back(make_server, tmp_path, s3_endpoint):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket="team-bucket")
    srv = make_server(env=s3_endpoint)
    srv.stop()
    srv.blobs = "s3://team-bucket/seetrain/blobs"
    srv.start()
    d = tmp_path / "p" / "s3run"
    (d / "media").mkdir(parents=True)
    payload = bytes(range(256)) * 100
    (d / "media" / "a.wav").write_bytes(payload)
    (d / "media" / "b.wav").write_bytes(payload)
    extra = [{"seq": 3 + i, "time": 1.0, "type": "metrics", "step": 3 + i,
              "data": {"audio": {"_type": "audio", "path": f"media/{name}.wav"}}} for i, name in enumerate("ab")]
    meta = write_run(str(d), 3, extra=extra)
    RunSync(str(d), Client(srv.url)).drain()
    sha = hashlib.sha256(payload).hexdigest()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-bucket").get("Contents", [])]
    assert keys == [f"seetrain/blobs/{sha[:2]}/{sha}"]  # content-addressed: stored once
    media = api(srv.url, f"/api/v1/runs/{meta['uuid']}/media?key=audio")[1]
    assert [m["sha256"] for m in media] == [sha, sha]
    status, body = api(srv.url, media[0]["url"])
    assert status == 200 and body == payload

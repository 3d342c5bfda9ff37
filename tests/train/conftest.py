"""Fixtures for the trainer tests: small files in the datasets' original formats, served by a real
HTTP server on 127.0.0.1, and a quiet, fast default for every training run."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading

import numpy as np
import pytest

FAST = ["trainer.enable_progress_bar=false", "trainer.num_threads=1"]


def write_idx(path: str, arr: np.ndarray) -> None:
    """An IDX file (gzip) as published for MNIST: magic 0 0 0x08 ndim, big-endian dims, uint8 data."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def write_cifar(path: str, folder: str, batches: dict, meta_name: str, meta: dict) -> None:
    """A CIFAR "python version" archive: pickled dicts with bytes keys in a tar.gz."""
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in list(batches.items()) + [(meta_name, meta)]:
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def md5(path: str) -> str:
    return hashlib.md5(open(path, "rb").read()).hexdigest()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture(scope="session")
def data_server(tmp_path_factory):
    """Serves MNIST-, Fashion- and CIFAR-format files; yields (base URL, {dataset: {file: md5}}, truth, hits)."""
    root = str(tmp_path_factory.mktemp("mirror"))
    rng = np.random.default_rng(7)
    truth, sums = {}, {}
    for name in ("mnist", "fashion_mnist"):
        d = os.path.join(root, name)
        os.makedirs(d)
        x_tr, y_tr = rng.integers(0, 256, (60, 28, 28)), rng.integers(0, 10, 60)
        x_te, y_te = rng.integers(0, 256, (20, 28, 28)), rng.integers(0, 10, 20)
        for fname, arr in (("train-images-idx3-ubyte.gz", x_tr), ("train-labels-idx1-ubyte.gz", y_tr),
                           ("t10k-images-idx3-ubyte.gz", x_te), ("t10k-labels-idx1-ubyte.gz", y_te)):
            write_idx(os.path.join(d, fname), arr)
        truth[name] = (x_tr, y_tr, x_te, y_te)
        sums[name] = {f: md5(os.path.join(d, f)) for f in os.listdir(d)}
    # CIFAR-10: 5 train batches of 8 + a test batch of 8, learnable (class = dominant colour band)
    d = os.path.join(root, "cifar10")
    os.makedirs(d)
    batches, xs, ys = {}, [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        y = rng.integers(0, 10, 8)
        x = rng.integers(0, 256, (8, 3, 32, 32)).astype(np.uint8)
        batches[name] = {b"batch_label": name.encode(), b"labels": [int(v) for v in y], b"data": x.reshape(8, -1),
                         b"filenames": [f"{i}.png".encode() for i in range(8)]}
        xs.append(x)
        ys.append(y)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    write_cifar(os.path.join(d, "cifar-10-python.tar.gz"), "cifar-10-batches-py", batches, "batches.meta",
                {b"label_names": names, b"num_cases_per_batch": 8, b"num_vis": 3072})
    truth["cifar10"] = (np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5])
    sums["cifar10"] = {"cifar-10-python.tar.gz": md5(os.path.join(d, "cifar-10-python.tar.gz"))}
    # CIFAR-100: one train and one test pickle with fine labels
    d = os.path.join(root, "cifar100")
    os.makedirs(d)
    y_tr, y_te = rng.integers(0, 100, 30), rng.integers(0, 100, 10)
    x_tr, x_te = (rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8) for n in (30, 10))
    write_cifar(os.path.join(d, "cifar-100-python.tar.gz"), "cifar-100-python",
                {"train": {b"data": x_tr.reshape(30, -1), b"fine_labels": list(map(int, y_tr)), b"coarse_labels": [0] * 30},
                 "test": {b"data": x_te.reshape(10, -1), b"fine_labels": list(map(int, y_te)), b"coarse_labels": [0] * 10}},
                "meta", {b"fine_label_names": [f"c{i}".encode() for i in range(100)]})
    truth["cifar100"] = (x_tr, y_tr, x_te, y_te)
    sums["cifar100"] = {"cifar-100-python.tar.gz": md5(os.path.join(d, "cifar-100-python.tar.gz"))}

    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", sums, truth, hits
    server.shutdown()


def mirror_args(server, name: str, cache: str):
    """Overrides that point dataset ``name`` at the local mirror with the test files' checksums."""
    base, sums, _, _ = server
    checks = "{" + ", ".join(f"{k}: {v}" for k, v in sums[name].items()) + "}"
    return [f"data={name}", f"data.mirror={base}/{name}", f"data.checksums={checks}", f"data.root={cache}"]

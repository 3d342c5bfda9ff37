"""cloud-storage throughput against moto's S3 server on 127.0.0.1 and a local folder.

    python benchmarks/bench_cloud_storage.py [--mib 48] [--files 200]

Prints a table: single-file upload/download MB/s (multipart for S3, 8 MiB parts), the cost of
resuming an upload cut after half its parts, and an incremental sync of many small files (first
pass uploads all, second pass uploads nothing). Loopback numbers measure SeeTrain's own overhead
(hashing, state files, requests), not a network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

MIB = 1024 * 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=48)
    ap.add_argument("--files", type=int, default=200)
    args = ap.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from seetrain.apt.plugins.cloud_storage import CloudStoragePlugin

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
    tmp = tempfile.mkdtemp(prefix="seetrain-bench-")
    rows = []
    try:
        big = os.path.join(tmp, "big.bin")
        with open(big, "wb") as fh:
            fh.write(os.urandom(args.mib * MIB))
        small = os.path.join(tmp, "small")
        for i in range(args.files):
            os.makedirs(os.path.join(small, f"d{i % 10}"), exist_ok=True)
            with open(os.path.join(small, f"d{i % 10}", f"f{i}.bin"), "wb") as fh:
                fh.write(os.urandom(4096))
        stores = {
            "s3 (moto)": {"provider": "aws", "bucket": "bench", "endpoint_url": endpoint,
                          "multipart_threshold": 8 * MIB, "part_size": 8 * MIB, "state_dir": os.path.join(tmp, "st")},
            "local folder": {"provider": "local", "bucket": os.path.join(tmp, "store")},
        }
        for label, cfg in stores.items():
            plugin = CloudStoragePlugin(cfg)
            up = plugin.upload_model(big, "big.bin")
            t0 = time.perf_counter()
            plugin.download_model("big.bin", os.path.join(tmp, "dl.bin"))
            dl_s = time.perf_counter() - t0
            rows.append((label, f"upload {args.mib} MiB", f"{up['mb_per_s']:.0f} MB/s", f"{up['seconds']:.2f} s"))
            rows.append((label, f"download {args.mib} MiB + sha256", f"{args.mib / dl_s:.0f} MB/s", f"{dl_s:.2f} s"))
            if cfg["provider"] == "aws":
                n_parts = args.mib // 8
                calls = []

                def cut(done, total):
                    calls.append(done)
                    if len(calls) == n_parts // 2:
                        raise KeyboardInterrupt

                try:
                    plugin.upload_model(big, "resumed.bin", progress=cut)
                except KeyboardInterrupt:
                    pass
                res = plugin.upload_model(big, "resumed.bin")
                rows.append((label, f"resume after {n_parts // 2}/{n_parts} parts",
                             f"{res['parts_uploaded']} parts sent", f"{res['seconds']:.2f} s"))
            first = plugin.sync_directory(small, "sync")
            second = plugin.sync_directory(small, "sync")
            rows.append((label, f"sync {args.files} x 4 KiB, first", f"{first['files_uploaded']} uploaded",
                         f"{first['seconds']:.2f} s"))
            rows.append((label, f"sync {args.files} x 4 KiB, again", f"{second['files_uploaded']} uploaded",
                         f"{second['seconds']:.2f} s"))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    widths = [max(len(str(r[i])) for r in rows + [("store", "operation", "result", "time")]) for i in range(4)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format("store", "operation", "result", "time"))
    for r in rows:
        print(fmt.format(*r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

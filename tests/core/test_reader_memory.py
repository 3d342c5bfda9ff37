"""read_run streams: a 2M-record run reads whole within twice its file size of memory.

Before, the whole file was held several times over (~7x its size); under a memory limit the run
came back silently cut short (MemoryError counted as corrupt lines).
"""

import json
import os
import textwrap

import pytest
from tests._child import run_python

N = 2_000_000


def _write_big_run(run_dir):
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "run.json"), "w") as f:
        json.dump({"format": 2, "id": "big", "project": "p", "status": "success"}, f)
    with open(os.path.join(run_dir, "records.jsonl"), "wb") as f:
        for start in range(0, N, 100_000):
            f.write(b"".join(
                b'{"seq":%d,"time":1764079200.%06d,"type":"metrics","step":%d,"data":{"loss":0.%06d,"acc":%d}}\n'
                % (i, i % 1_000_000, i, (i * 7919) % 1_000_000, i) for i in range(start, start + 100_000)))
    return os.path.getsize(os.path.join(run_dir, "records.jsonl"))


@pytest.mark.timeout(600)
def test_two_million_records_read_within_twice_the_file_size(tmp_path):
    run_dir = str(tmp_path / "p" / "big")
    size = _write_big_run(run_dir)
    code = textwrap.dedent(f"""
        import resource
        import seetrain.rundir.reader as R

        def vm():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024

        limit = vm() + 2 * {size}  # address space: what the process has now plus twice the file
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        base = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) * 1024
        r = R.read_run({run_dir!r})
        loss, acc = r.scalars("loss"), r.scalars("acc")
        summary = r.summary()
        # VmHWM: this process's own peak (ru_maxrss would also count the RSS of the parent that
        # forked it, carried over the exec: a big pytest process read as a 7x "growth")
        peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) * 1024
        print(len(loss.values), len(acc.steps), r.num_records, r.corrupt_lines, r.last_seq,
              acc.values[-1], summary["acc"], peak - base)
    """)
    out = run_python(["-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    n_loss, n_acc, n_rec, corrupt, last_seq, last_acc, summary_acc, grown = map(int, out.stdout.split())
    assert (n_loss, n_acc, n_rec, corrupt, last_seq) == (N, N, N, 0, N - 1)  # whole, nothing cut
    assert last_acc == summary_acc == N - 1
    assert grown <= 2 * size, f"peak RSS grew {grown / size:.2f}x the file size"

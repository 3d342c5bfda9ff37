"""The follower's bounded read (seetrain/rundir/follow.py read_batch): only complete lines, at most
max_records lines and max_bytes bytes (a longer single line whole), every byte once, in order."""

from __future__ import annotations

import random

from seetrain.rundir.follow import read_batch


def test_batches_cover_the_complete_lines_once_within_their_bounds(tmp_path):
    path = str(tmp_path / "records.jsonl")
    rnd = random.Random(1)
    for trial in range(300):
        lines = [b"x" * rnd.choice([0, 1, 5, 100, 3000, 300_000]) + b"\n" for _ in range(rnd.randint(0, 30))]
        data = b"".join(lines) + b"y" * rnd.choice([0, 0, 7, 400_000])  # a partial last line: never read
        with open(path, "wb") as f:
            f.write(data)
        max_records, max_bytes = rnd.choice([1, 3, 5000]), rnd.choice([10, 1000, 1 << 20, 8 << 20])
        offset, got = 0, []
        while True:
            batch, size = read_batch(path, offset, max_records, max_bytes)
            if batch is None:
                break
            assert size == len(data) and batch.offset == offset and data[offset:batch.next_offset] == batch.block
            n = batch.block.count(b"\n")
            assert 1 <= n <= max_records and (len(batch.block) <= max_bytes or n == 1), (trial, n, len(batch.block))
            got.append(batch.block)
            offset = batch.next_offset
        assert b"".join(got) == b"".join(lines), trial

"""A training loop for the fault-injection tests: ``python train_script.py N DELAY MODE [hang]``.

Logs N steps of {"loss", "i"}; flushes every 500 steps and prints ``flushed K``; with ``hang``
it waits to be killed instead of finishing."""

import os
import sys
import time

import seetrain

n, delay, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
hang = len(sys.argv) > 4 and sys.argv[4] == "hang"
run = seetrain.init(project="ft", experiment_name="t", mode=mode, system_metrics=False, console="off",
                    upload_timeout=float(os.environ.get("UPLOAD_TIMEOUT", "60")))
print("dir", run.dir, flush=True)
for i in range(n):
    run.log({"loss": 1.0 / (i + 1), "i": i}, step=i)
    if delay:
        time.sleep(delay)
    if (i + 1) % 500 == 0:
        run.flush()
        print("flushed", i + 1, flush=True)
if hang:
    for i in range(n, n + 50):  # logged, maybe not yet flushed, when the kill comes
        run.log({"loss": 0.0, "i": i}, step=i)
    print("hanging", flush=True)
    time.sleep(600)
t = time.monotonic()
run.finish()
print(f"finished in {time.monotonic() - t:.2f}s", flush=True)

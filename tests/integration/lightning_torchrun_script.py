"""Run by test_lightning_shared.py under ``torchrun --nproc-per-node 2``: a Lightning DDP fit (CPU,
gloo) whose SeeTrainLogger logs from every rank (``all_ranks=True``) into one shared run.

Each rank logs its own rank marker and writes ``<argv[1]>/rank<N>.txt`` with what it saw.
"""

import os
import sys
import time

import torch

import seetrain

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _lightning_models import TinyMLP, loaders  # noqa: E402

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover
    import pytorch_lightning as pl

from seetrain.integration.callbacks.lightning import SeeTrainLogger  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    logger = SeeTrainLogger(project="ddp", experiment_name="every-rank", config={"script": "torchrun"},
                            all_ranks=True, system_interval=0.2)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=logger,
                         log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    train, val = loaders(n=32, batch_size=8)
    trainer.fit(TinyMLP(lr=0.05), train, val)
    rank = trainer.global_rank
    logger.log_metrics({"who/rank": rank}, step=trainer.global_step)
    run = logger.experiment
    deadline = time.monotonic() + 120  # a tiny fit is over before the first system sample: wait for one
    while time.monotonic() < deadline:
        run.flush()
        if seetrain.read_run(run.dir).system("sys/cpu_percent", writer=run.writer.label).values:
            break
        time.sleep(0.05)
    with open(os.path.join(sys.argv[1], f"rank{rank}.txt"), "w") as f:
        f.write(f"rank={rank} pid={os.getpid()} run={logger.experiment.dir} writer={logger.experiment.writer.label}\n")


if __name__ == "__main__":
    main()

"""Run by test_lightning.py: Trainer(strategy="ddp") on 2 CPU processes with a SeeTrainLogger.

Lightning re-launches this file for rank 1 (with LOCAL_RANK=1 in its environment). Every rank
tries to log a rank marker; only rank zero's may reach the run. Each rank writes what it saw to
``<argv[1]>/rank<N>.txt``.
"""

import os
import sys

import torch

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
    logger = SeeTrainLogger(project="ddp", experiment_name="ddp-run", config={"script": "ddp"})
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=logger,
                         log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    train, val = loaders(n=32, batch_size=8)
    trainer.fit(TinyMLP(lr=0.05), train, val)
    rank = trainer.global_rank
    logger.log_metrics({"who/logger_rank": rank}, step=trainer.global_step)
    logger.experiment.log({"who/experiment_rank": rank}, step=trainer.global_step)
    # one file per rank: both processes share stdout, where lines can interleave
    with open(os.path.join(sys.argv[1], f"rank{rank}.txt"), "w") as f:
        f.write(f"rank={rank} pid={os.getpid()} run_mode={logger.experiment.mode}\n")


if __name__ == "__main__":
    main()

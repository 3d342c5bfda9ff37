"""Run by test_lightning_contract.py: ``strategy="ddp_spawn"`` on 2 CPU (gloo) processes, fit then test.

The logger is pickled into the spawned processes. Afterwards the main process reads
``trainer.logger.version`` and ``log_dir`` and logs one more value, and prints what it saw.
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
    logger = SeeTrainLogger(project="spawn", experiment_name="spawn-run")
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", max_epochs=1, logger=logger,
                         log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    train, val = loaders(n=32, batch_size=8)
    model = TinyMLP(lr=0.05)
    trainer.fit(model, train, val)
    print("VERSION_AFTER_FIT", trainer.logger.version, flush=True)
    print("LOG_DIR_AFTER_FIT", trainer.logger.log_dir, flush=True)
    trainer.test(model, val)
    logger.log_metrics({"main/after_test": 1.0}, step=100)
    print("VERSION_AFTER_TEST", trainer.logger.version, flush=True)


if __name__ == "__main__":
    main()

"""Bridges from other trackers: mirror W&B, TensorBoard or MLflow calls into SeeTrain live
(``seetrain.sync_wandb()``, ``sync_tensorboard()``, ``sync_mlflow()``) and import their old runs
(``seetrain import wandb|tensorboard|mlflow``). One module per tracker, each importing its
framework only when used."""

"""Tasks: how a config becomes a :class:`~seetrain.train.job.Job` (data built, model checked).

A task is a module with ``load_data(config)`` (the train/val sets, built and sized; framework-free, so
a data error such as a batch larger than the training set comes before any framework is imported) and
``prepare(config, model_backend, data) -> Job`` (the model checked against that data); backends say
which tasks they train.
"""

from __future__ import annotations

import importlib

from ..errors import unknown

TASKS = {
    "classification": "seetrain.train.tasks.classification",
    "regression": "seetrain.train.tasks.regression",
    "language_model": "seetrain.train.tasks.language_model",
    "segmentation": "seetrain.train.tasks.segmentation",
}


def get_task(name: str):
    if name not in TASKS:
        raise unknown("task", name, TASKS)
    return importlib.import_module(TASKS[name])

"""Tasks: how a config becomes a :class:`~seetrain.train.job.Job` (data built, model checked).

A task is a module with ``prepare(config, model_backend) -> Job``; backends say which tasks they train.
"""

from __future__ import annotations

import importlib

from ..errors import unknown

TASKS = {
    "classification": "seetrain.train.tasks.classification",
    "regression": "seetrain.train.tasks.regression",
    "language_model": "seetrain.train.tasks.language_model",
}


def get_task(name: str):
    if name not in TASKS:
        raise unknown("task", name, TASKS)
    return importlib.import_module(TASKS[name])

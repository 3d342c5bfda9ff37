"""The run that records what ``evaluate``, ``predict`` or ``export`` did with a trained run.

A finished run's directory belongs to the process that wrote it, so a later job never appends to
it: it starts its own small run in the same project and log folder, named ``<run name>-<job>``,
tagged with the job, its config naming the source run and checkpoint (the lineage ``seetrain ls``
and the dashboard show), and its figures in the summary.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

from .trained import TrainedModel


def track(kind: str, trained: TrainedModel, summary: Dict[str, Any], extra: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Record job ``kind`` on ``trained`` as its own run; returns the new run's directory (None when
    the source run's logger was off)."""
    import seetrain

    logger = trained.config.get("logger") or {}
    if logger.get("enabled", True) is False:
        return None
    project_dir = os.path.dirname(os.path.abspath(trained.run_dir))
    run = seetrain.init(project=os.path.basename(project_dir), logdir=os.path.dirname(project_dir),
                        experiment_name=f"{os.path.basename(trained.run_dir)}-{kind}", tags=[kind],
                        config={"job": kind, "source_run": trained.run_id, "source_dir": trained.run_dir,
                                "checkpoint": trained.checkpoint, **(extra or {})},
                        system_metrics=False, console="off")
    try:
        run.summary.update(summary)
    finally:
        run.finish()
    return run.dir

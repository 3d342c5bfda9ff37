"""The adapters' every-rank option (``all_ranks=True``): each rank of a distributed launch becomes
one writer of a shared run (``seetrain.init(id=..., shared=True)``) instead of rank zero alone.

Every rank must name the same run id, decided without talking to the others: the user's
``id=``, else ``$SEETRAIN_RUN_ID``, else the launch's own id (torchrun's ``$TORCHELASTIC_RUN_ID``:
the ``--rdzv-id`` of a multi-node job, a fresh uuid for a single-node one).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional


def launch_run_id(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """An id every rank of one launch computes alike, or None where the launcher names no job."""
    env = os.environ if environ is None else environ
    if env.get("SEETRAIN_RUN_ID"):
        return env["SEETRAIN_RUN_ID"]
    elastic = env.get("TORCHELASTIC_RUN_ID", "")
    if elastic and elastic != "none":
        return "torchrun-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in elastic)[:120]
    return None


def shared_init_kwargs(init_kwargs: Mapping[str, Any], adapter: str) -> Dict[str, Any]:
    """``init_kwargs`` plus what makes this rank a writer of the launch's shared run; a clear
    ``ValueError`` where no id can be agreed on."""
    kwargs = dict(init_kwargs)
    kwargs["shared"] = True
    if not kwargs.get("id"):
        run_id = launch_run_id()
        if run_id is None:
            raise ValueError(f"{adapter}(all_ranks=True): every rank must log into one run, so they need one run id; "
                             "pass id='...' (the same on every rank) or set $SEETRAIN_RUN_ID, or launch with "
                             "torchrun (its job id is used)")
        kwargs["id"] = run_id
    return kwargs

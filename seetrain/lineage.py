"""Rewinding a run (``seetrain.init(id=RUN, resume_from=STEP)``) and forking one
(``seetrain.init(fork_from=(RUN, STEP))``): the part of starting a run that edits its history, and
the reverse lineage link (which runs were forked from this one), computed by reading, never by
writing into another run's directory.

The record format is :mod:`seetrain.rundir.history`; :mod:`seetrain.run_start` calls
:func:`rewind` and :func:`fork` while it holds the new run's lock, before its writer starts.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

from .rundir.format import untag_values

__all__ = ["ForkLink", "check_step", "rewind", "fork", "forks_of", "parent_dir"]

ForkFrom = Union[Tuple[Any, int], List[Any]]


class ForkLink(NamedTuple):
    """One child of a run: its id, project, uuid, directory and the parent's step it starts after."""

    id: str
    project: str
    uuid: Optional[str]
    step: int
    path: str


def check_step(what: str, step: Any) -> int:
    """``step`` as a non-negative int, or a ValueError naming ``what``."""
    if type(step) is not int or step < 0:
        raise ValueError(f"seetrain.init({what}={step!r}): the step must be a non-negative integer "
                         "(the last step kept from the earlier history)")
    return step


def check_start(resume: Any, resume_from: Any, fork_from: Any) -> Any:
    """The ``resume`` mode ``init()`` goes on with, or a ValueError saying what to change:
    ``resume_from`` continues an existing run (``resume="must"``), ``fork_from`` makes a new one."""
    if resume_from is not None and fork_from is not None:
        raise ValueError("seetrain.init(): resume_from= continues an existing run and fork_from= starts a new "
                         "one; pass one of them")
    if resume_from is not None:
        check_step("resume_from", resume_from)
        if resume in (False, "never"):
            raise ValueError(f"seetrain.init(resume_from={resume_from}) continues an existing run; it cannot be "
                             f"combined with resume={resume!r}")
        return "must"
    if resume not in (None, False, "never"):
        raise ValueError("seetrain.init(fork_from=...) starts a new run; it cannot be combined with resume=")
    return "never"


def rewind(log_folder: str, meta: Dict[str, Any], step: int, seq: int) -> int:
    """Append the ``rewind`` record (seq ``seq``) to the log in ``log_folder`` (the run directory,
    or a shared run's writer folder: a rewind is its writer's own) and make ``meta`` (its run.json
    or writer.json) agree with the rewound history (last step, summary); returns the next automatic step."""
    from .rundir import history  # here, not at the top: orjson and the stream reader cost every init() ~20 ms

    path = os.path.join(log_folder, "records.jsonl")

    history.append_lines(path, history.rewind_line(seq, step))
    from .rundir.columns import RecordScan
    from .rundir.stream import iter_chunks

    live = RecordScan()
    for chunk in iter_chunks(path):
        live.add(chunk, False)
    summary = {k: v for k, v in untag_values(meta.get("summary")).items() if k.startswith("sys/")}
    summary.update(live.metrics.last_values())
    summary.update(live.summary)
    meta["summary"] = summary
    meta["last_step"] = step
    meta["last_seq"] = seq
    return step + 1


def parent_dir(fork_from: Any, logdir: str, project: str) -> str:
    """The run directory ``fork_from``'s run names: a run id in ``project``, ``"project/id"``, a
    path to a run directory, or a :class:`~seetrain.Run` / :class:`~seetrain.rundir.reader.RunReader`."""
    where = getattr(fork_from, "dir", None) or getattr(fork_from, "path", None)
    if isinstance(where, str):
        cand = [where]
    elif isinstance(fork_from, str) and fork_from:
        cand = [os.path.join(logdir, project, fork_from), os.path.join(logdir, fork_from), fork_from]
    else:
        raise ValueError(f"seetrain.init(fork_from=({fork_from!r}, STEP)): name the parent run by its id, "
                         "'project/id', its directory or its Run")
    for d in cand:
        if os.path.isfile(os.path.join(d, "run.json")):
            return os.path.abspath(d)
    raise ValueError(f"seetrain.init(fork_from=({fork_from!r}, STEP)): no run {fork_from!r} under "
                     f"{os.path.join(logdir, project)} (nor at that path); see `seetrain ls`")


def fork(run: Any, meta: Dict[str, Any], fork_from: Any) -> Tuple[int, int]:
    """Start ``run`` (a new run, under its lock) from its parent's history up to a step: the copied
    records go into its log, the media they reference into its ``media/``, and ``meta`` gets the
    ``fork_from`` link, the parent's config and the copied summary. Returns the first seq and the
    next automatic step of the run's own records."""
    if not isinstance(fork_from, (tuple, list)) or len(fork_from) != 2:
        raise ValueError(f"seetrain.init(fork_from={fork_from!r}) takes a pair (RUN, STEP): the parent run "
                         "and the last step of its history the new run starts from")
    parent, step = fork_from[0], check_step("fork_from", fork_from[1])
    src = parent_dir(parent, run.logdir, run.project)
    if os.path.realpath(src) == os.path.realpath(run.dir):
        raise ValueError("seetrain.init(fork_from=...) names the new run itself; fork from another run")
    from .rundir.reader import RunReader

    reader = RunReader(src)
    from .rundir import history

    copied = history.fork_history(src, step, reader.config)
    if copied.lines:
        history.append_lines(os.path.join(run.dir, "records.jsonl"), copied.lines)
    history.copy_media(src, run.dir, copied.media)
    meta["fork_from"] = {"id": reader.id, "project": reader.project, "uuid": reader.uuid, "step": step}
    meta["config"] = dict(reader.config)
    meta["summary"] = copied.summary
    meta["last_step"] = copied.last_step
    meta["last_seq"] = copied.n - 1
    return copied.n, step + 1


def forks_of(run: Any, logdir: Optional[str] = None) -> List[ForkLink]:
    """The runs forked from ``run`` (a :class:`RunReader`, a Run or a run directory) found under
    ``logdir`` (default: the log folder holding ``run``), oldest first: the reverse lineage link."""
    from .rundir.reader import RunReader, list_runs

    reader = run if isinstance(run, RunReader) else RunReader(getattr(run, "dir", None) or os.fspath(run))
    root = logdir or os.path.dirname(os.path.dirname(reader.path))
    out = []
    for r in list_runs(root):
        link = r.meta.get("fork_from")
        if not isinstance(link, dict) or r.path == reader.path:
            continue
        same = (link.get("uuid") and link.get("uuid") == reader.uuid) or \
            (not link.get("uuid") and link.get("id") == reader.id and link.get("project") == reader.project)
        if same:
            out.append(ForkLink(r.id, r.project, r.uuid, int(link.get("step") or 0), r.path))
    return out

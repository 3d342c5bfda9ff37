"""The ``--json`` documents of ``seetrain ls``, ``show`` and ``export`` (shapes in docs/cli.md):
plain data read with the public reader, no formatting."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

LS = "seetrain.ls/1"
SHOW = "seetrain.show/1"
EXPORT = "seetrain.export/1"


def _end(r: Any) -> Optional[float]:
    m = r.meta
    end = m.get("end_time") or (m.get("heartbeat") if r.status != "running" else None)
    if end is None and r.format < 2:
        end = r.last_time
    return end


def run_fields(r: Any) -> Dict[str, Any]:
    """What ``ls --json`` gives per run (``run.json`` only, as ``ls`` reads)."""
    m = r.meta
    start, end = m.get("start_time"), _end(r)
    last = r.last_step
    try:
        duration = max(float(end) - float(start), 0.0) if start and end else None
    except (TypeError, ValueError):
        duration = None
    return {"project": r.project, "name": r.name, "id": r.id, "uuid": r.uuid, "status": r.status,
            "vanished": r.vanished, "exit_code": r.exit_code, "start_time": start, "end_time": m.get("end_time"),
            "duration": duration, "steps": last + 1 if isinstance(last, int) and last >= 0 else 0,
            "tags": list(m.get("tags") or []), "path": r.path,
            "writers": len(r.writers) if r.shared else 1, "crashed_writers": r.crashed_writers if r.shared else []}


def _scalars(summary: Dict[str, Any]) -> Dict[str, Any]:
    """Numbers, text, booleans (media references are left out, as ``ls`` shows them)."""
    return {k: v for k, v in summary.items()
            if not k.startswith("sys/") and (v is None or isinstance(v, (int, float, str, bool)))}


def ls_doc(runs: List[Any], logdir: str) -> Dict[str, Any]:
    out = []
    for r in runs:
        d = run_fields(r)
        summary = r.meta_summary()
        if not summary and r.format < 2:
            summary = r.summary()
        d["summary"] = _scalars(summary)
        out.append(d)
    return {"logdir": logdir, "runs": out}


def show_doc(r: Any) -> Dict[str, Any]:
    m = r.meta
    d = run_fields(r)
    git = m.get("git") if isinstance(m.get("git"), dict) else None
    d.update(description=m.get("description"), error=r.error, lost=r.lost, heartbeat_age=r.heartbeat_age, git=git,
             host=m.get("host"))
    if r.shared:  # each writer of a shared run (issue 23)
        d["writer_states"] = [{"label": w.label, "primary": w.primary, "status": w.status, "exit_code": w.exit_code,
                               "rank": w.rank, "host": w.host, "pid": w.pid, "records": w.n_records} for w in r.writers]
    return {"run": d, "config": r.config, "summary": r.summary()}


def export_doc(r: Any) -> Dict[str, Any]:
    """Every scalar key's full history, column by column."""
    metrics = {}
    for key in r.scalar_keys():
        s = r.scalars(key)
        metrics[key] = {"step": list(s.steps), "time": list(s.times), "value": list(s.values)}
    return {"run": {"project": r.project, "name": r.name, "id": r.id, "uuid": r.uuid, "path": r.path},
            "metrics": metrics}

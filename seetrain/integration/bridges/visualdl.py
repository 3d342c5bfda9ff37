"""VisualDL bridge (PaddlePaddle's dashboard): mirror ``visualdl.LogWriter`` into SeeTrain live, or
import VisualDL log files.

    from seetrain.integration.bridges.visualdl import sync_visualdl, import_logdir
    sync_visualdl(project="mnist")                    # before or after creating writers
    writer = visualdl.LogWriter(logdir="vdl/exp1")    # also what paddle.callbacks.VisualDL creates
    writer.add_scalar("train/loss", 0.5, 10)          # also in SeeTrain run "exp1", key "train/loss", step 10

    import_logdir("vdl/")                             # one SeeTrain run per folder of vdlrecords.*.log

Scalars (as VisualDL stores them: float32) and text are mirrored and imported; images, audio,
histograms, graphs and the other VisualDL components are not. The mirror patches
``LogWriter.add_scalar``, ``add_text`` and ``close`` at class level (writers made before
``sync_visualdl()`` are covered too); each writer's log directory is one run, finished when the
writer is closed.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

import seetrain
from seetrain.integration.bridges._common import LogdirMirror, Patches, import_or_explain

FRAMEWORK = "visualdl"


def _f32(value: Any) -> float:
    import numpy as np

    return float(np.float32(value))


class VisualDLSync(LogdirMirror):
    """Mirrors every ``visualdl.LogWriter``; one SeeTrain run per log directory."""

    bridge = FRAMEWORK

    def __init__(self, project: Optional[str] = None, **init_kwargs: Any) -> None:
        vdl = import_or_explain("visualdl", "visualdl", "VisualDL bridge")
        self.project, self.init_kwargs = project, dict(init_kwargs)
        self._init_logdirs()
        self._patches = Patches(FRAMEWORK)
        self._patches.after(vdl.LogWriter, "add_scalar", self._on_scalar)
        self._patches.after(vdl.LogWriter, "add_text", self._on_text)
        self._patches.after(vdl.LogWriter, "close", self._on_close)

    def _run_for(self, writer: Any) -> "seetrain.Run":
        logdir = os.path.abspath(str(writer.logdir))
        return self._logdir_run(logdir, lambda kwargs: seetrain.init(
            project=self.project or "visualdl", experiment_name=os.path.basename(logdir) or logdir,
            config={"_framework": FRAMEWORK, "visualdl/logdir": logdir}, **kwargs))

    def _on_scalar(self, _result: Any, writer: Any, tag: str, value: Any, step: Any, *a: Any, **kw: Any) -> None:
        self._run_for(writer).log({tag: _f32(value)}, step=int(step))

    def _on_text(self, _result: Any, writer: Any, tag: str, text_string: str, step: Any = None, *a: Any, **kw: Any) -> None:
        self._run_for(writer).log({tag: seetrain.Text(str(text_string))}, step=int(step or 0))

    def _on_close(self, _result: Any, writer: Any, *a: Any, **kw: Any) -> None:
        self._close_logdir(os.path.abspath(str(writer.logdir)))


def sync_visualdl(project: Optional[str] = None, **init_kwargs: Any) -> VisualDLSync:
    """Mirror every ``visualdl.LogWriter`` into SeeTrain; ``init_kwargs`` go to :func:`seetrain.init`."""
    return VisualDLSync.start(project=project, **init_kwargs)


# --- importing log files --------------------------------------------------------------------------
def find_run_dirs(logdir: str) -> List[str]:
    """Every folder under ``logdir`` holding VisualDL log files (``vdlrecords.*.log``)."""
    return [root for root, dirs, files in sorted(os.walk(logdir)) if any(f.startswith("vdlrecords.") for f in files)]


def read_run_dir(run_dir: str) -> Dict[int, Dict[str, Any]]:
    """{step: {tag: value}} of a folder's scalars and texts, read with VisualDL's own reader."""
    import_or_explain("visualdl", "visualdl", "VisualDL import")
    from visualdl import LogReader

    by_step: Dict[int, Dict[str, Any]] = {}
    for name in sorted(f for f in os.listdir(run_dir) if f.startswith("vdlrecords.")):
        reader = LogReader(file_path=os.path.join(run_dir, name))
        tags = reader.get_tags()
        for tag in tags.get("scalar", []):
            for rec in reader.get_data("scalar", tag):
                by_step.setdefault(int(rec.id), {})[tag] = _f32(rec.value)
        for tag in tags.get("text", []):
            for rec in reader.get_data("text", tag):
                by_step.setdefault(int(rec.id), {})[tag] = seetrain.Text(str(rec.text.encoded_text_string))
    return by_step


def import_logdir(logdir: str, project: Optional[str] = None, seetrain_logdir: Optional[str] = None
                  ) -> List[Tuple[str, int]]:
    """One SeeTrain run per folder of VisualDL logs under ``logdir``: [(run directory, records)]."""
    logdir = os.path.abspath(logdir)
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"{logdir} is not a directory; give the VisualDL log directory (visualdl --logdir)")
    dirs = find_run_dirs(logdir)
    if not dirs:
        raise FileNotFoundError(f"no VisualDL log files (vdlrecords.*.log) under {logdir}")
    out = []
    for run_dir in dirs:
        rel = os.path.relpath(run_dir, logdir)
        run_id = "vdl-" + hashlib.sha1(run_dir.encode()).hexdigest()[:12]
        run = seetrain.init(project=project or os.path.basename(logdir) or "visualdl", id=run_id,
                            experiment_name=os.path.basename(logdir) if rel == "." else rel, logdir=seetrain_logdir,
                            system_metrics=False, config={"_framework": FRAMEWORK, "visualdl/logdir": run_dir, "imported": True})
        n = 0
        try:
            for step, values in sorted(read_run_dir(run_dir).items()):
                run.log(values, step=step)
                n += 1
        except BaseException:
            run.finish("failed")
            raise
        run.finish("success")
        out.append((run.dir, n))
    return out


__all__: Iterable[str] = ["sync_visualdl", "VisualDLSync", "import_logdir", "find_run_dirs", "read_run_dir"]

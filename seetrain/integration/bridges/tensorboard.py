"""TensorBoard bridge: mirror ``SummaryWriter`` into SeeTrain live, or import event files.

    import seetrain
    seetrain.sync_tensorboard(project="mnist")       # before or after creating writers
    writer = torch.utils.tensorboard.SummaryWriter("runs/exp1")   # or tensorboardX.SummaryWriter
    writer.add_scalar("loss", 0.5, 10)                # also in SeeTrain run "exp1", key "loss", step 10

    seetrain import tensorboard runs/                 # one SeeTrain run per folder of event files

Both paths go through :func:`summary_values`, which turns one TensorBoard ``Summary`` into
SeeTrain values exactly as TensorBoard stored them: scalars (``simple_value``, a float32, or a
scalar tensor), histograms (TensorBoard's buckets: :func:`histogram_of`), images (the
PNG TensorBoard wrote, decoded to the same pixels) and text. A SeeTrain run therefore reads back
value for value what TensorBoard reads from its event file.

The mirror patches ``FileWriter.add_event`` and ``FileWriter.close`` of ``torch.utils.tensorboard``
and ``tensorboardX`` at class level: every writer, also one created before ``sync_tensorboard()``,
is covered; each log directory (a ``SummaryWriter``, and each folder ``add_scalars`` makes, as
TensorBoard shows them) is one SeeTrain run, finished when its writer is closed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import seetrain
from seetrain.integration.bridges._common import LogdirMirror, Patches, import_or_explain

FRAMEWORK = "tensorboard"
_WRITER_MODULES = {"torch": "torch.utils.tensorboard.writer", "tensorboardX": "tensorboardX.writer"}


# --- one Summary -> SeeTrain values ---------------------------------------------------------
def _tensor_scalar(tensor: Any) -> Optional[float]:
    for field in ("double_val", "float_val", "int_val", "int64_val", "half_val"):
        vals = getattr(tensor, field, None)
        if vals:
            return vals[0] if field != "half_val" else float(vals[0])
    if tensor.tensor_content:
        import numpy as np

        dtype = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16}.get(int(tensor.dtype))
        if dtype is not None:
            arr = np.frombuffer(tensor.tensor_content, dtype=dtype)
            if arr.size == 1:
                return arr.item()
    return None


def histogram_of(h: Any) -> Tuple[List[float], List[float]]:
    """(edges, counts) of a TensorBoard ``HistogramProto``, which keeps only right edges
    (``bucket_limit``): the left edge is ``min``, unless the writer put an empty bucket first to carry
    the left edge in its limit (torch and tensorboardX do), which is then that edge, not a bin."""
    limits, counts = list(h.bucket_limit), list(h.bucket)
    if len(counts) > 1 and counts[0] == 0 and limits[0] <= h.min:
        return limits, counts[1:]
    return [h.min] + limits, counts


def summary_values(summary: Any) -> Dict[str, Any]:
    """SeeTrain values (numbers, Image, Histogram, Text) for every supported value of a Summary."""
    out: Dict[str, Any] = {}
    for value in summary.value:
        kind = value.WhichOneof("value")
        tag = value.tag
        if kind == "simple_value":
            out[tag] = value.simple_value
        elif kind == "histo":
            edges, counts = histogram_of(value.histo)
            if counts and len(edges) == len(counts) + 1:
                out[tag] = seetrain.Histogram(bins=edges, counts=counts)
        elif kind == "image":
            from PIL import Image as PILImage

            img = PILImage.open(io.BytesIO(value.image.encoded_image_string))
            img.load()
            out[tag] = seetrain.Image(img)
        elif kind == "tensor":
            plugin = value.metadata.plugin_data.plugin_name
            if plugin == "text" and value.tensor.string_val:
                text = value.tensor.string_val[0]
                if tag.endswith("/text_summary"):  # the writers' suffix to the name the user gave
                    tag = tag[: -len("/text_summary")]
                out[tag] = seetrain.Text(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
            elif plugin in ("scalars", ""):
                num = _tensor_scalar(value.tensor)
                if num is not None:
                    out[tag] = num
    return out


# --- the live mirror --------------------------------------------------------------------------
class TensorBoardSync(LogdirMirror):
    """The active mirror: one SeeTrain run per TensorBoard log directory.

    ``disable()`` restores the writers' classes (open runs stay open); ``finish()`` also finishes them.
    """

    bridge = FRAMEWORK

    def __init__(self, project: Optional[str] = None, frameworks: Sequence[str] = ("torch", "tensorboardX"),
                 **init_kwargs: Any) -> None:
        self.project = project
        self.init_kwargs = init_kwargs
        self._init_logdirs()
        self._roots: List[str] = []
        self._patches = Patches(FRAMEWORK)
        self.frameworks: List[str] = []
        for name in frameworks:
            if name not in _WRITER_MODULES:
                raise ValueError(f"sync_tensorboard(frameworks=...) knows {sorted(_WRITER_MODULES)}, not {name!r}")
            if importlib.util.find_spec(name) is None:
                continue
            module = importlib.import_module(_WRITER_MODULES[name])
            self._patches.after(module.FileWriter, "add_event", self._on_event)
            self._patches.after(module.FileWriter, "close", self._on_close)
            self.frameworks.append(name)
        if not self.frameworks:
            raise ImportError("sync_tensorboard() found neither torch.utils.tensorboard nor tensorboardX. "
                              "Install them with: pip install \"seetrain[tensorboard]\"")

    def _name(self, logdir: str) -> str:
        for root in self._roots:
            if logdir != root and logdir.startswith(root + os.sep):
                return os.path.join(os.path.basename(root), os.path.relpath(logdir, root))
        self._roots.append(logdir)
        return os.path.basename(logdir) or logdir

    def _run_for(self, writer: Any) -> "seetrain.Run":
        logdir = os.path.abspath(str(writer.get_logdir()))

        def start(kwargs: Dict[str, Any]) -> "seetrain.Run":
            name = self._name(logdir)
            if os.sep in name:  # a folder of add_scalars: the writer's own run samples the system
                kwargs.setdefault("system_metrics", False)
            return seetrain.init(project=self.project or "tensorboard", experiment_name=name,
                                 config={"_framework": FRAMEWORK, "tensorboard/logdir": logdir}, **kwargs)

        return self._logdir_run(logdir, start)

    def _on_event(self, _result: Any, writer: Any, event: Any, *args: Any, **kwargs: Any) -> None:
        if event.WhichOneof("what") != "summary":
            return
        values = summary_values(event.summary)
        if values:
            self._run_for(writer).log(values, step=int(event.step))

    def _on_close(self, _result: Any, writer: Any, *args: Any, **kwargs: Any) -> None:
        self._close_logdir(os.path.abspath(str(writer.get_logdir())))

    @property
    def experiment(self) -> Optional["seetrain.Run"]:
        """The run of the first writer that wrote something (None before that)."""
        return next(iter(self.runs.values()), None)


def sync_tensorboard(project: Optional[str] = None, frameworks: Sequence[str] = ("torch", "tensorboardX"),
                     **init_kwargs: Any) -> TensorBoardSync:
    """Mirror every ``SummaryWriter`` (torch and tensorboardX) into SeeTrain; returns the handle.

    ``init_kwargs`` go to :func:`seetrain.init` for each run (``logdir``, ``tags``, ``mode`` ...).
    Calling it again replaces the earlier mirror.
    """
    return TensorBoardSync.start(project=project, frameworks=frameworks, **init_kwargs)


# --- importing event files ------------------------------------------------------------------------
def find_run_dirs(logdir: str) -> List[str]:
    """Every folder under ``logdir`` holding TensorBoard event files (as TensorBoard lists runs)."""
    found = []
    for root, dirs, files in os.walk(logdir):
        dirs.sort()
        if any("tfevents" in f for f in files):
            found.append(root)
    return found


def iter_events(run_dir: str) -> Iterator[Any]:
    """The events of a run folder, file by file in name (= creation time) order."""
    import_or_explain("tensorboard", "tensorboard", "TensorBoard import")
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    for name in sorted(f for f in os.listdir(run_dir) if "tfevents" in f):
        for raw in RawEventFileLoader(os.path.join(run_dir, name)).Load():
            yield event_pb2.Event.FromString(raw)


def import_run_dir(run_dir: str, name: str, project: str, logdir: Optional[str] = None) -> Tuple[str, int]:
    """Write one SeeTrain run from a folder of event files; returns (run directory, records)."""
    run_dir = os.path.abspath(run_dir)
    run_id = "tb-" + hashlib.sha1(run_dir.encode()).hexdigest()[:12]
    try:
        run = seetrain.init(project=project, experiment_name=name, id=run_id, logdir=logdir, system_metrics=False,
                            config={"_framework": FRAMEWORK, "tensorboard/logdir": run_dir, "imported": True})
    except ValueError as exc:
        if "already exists" in str(exc):
            raise FileExistsError(f"{run_dir} was imported before (run id {run_id}); delete that SeeTrain run "
                                  "to import it again") from exc
        raise
    n = 0
    try:
        for event in iter_events(run_dir):
            if event.WhichOneof("what") != "summary":
                continue
            values = summary_values(event.summary)
            if values:
                run.log(values, step=int(event.step))
                n += 1
    except BaseException:
        run.finish("failed")
        raise
    run.finish("success")
    return run.dir, n


def import_logdir(logdir: str, project: Optional[str] = None, seetrain_logdir: Optional[str] = None
                  ) -> List[Tuple[str, int]]:
    """Import every run folder under a TensorBoard ``logdir``: [(SeeTrain run directory, records)]."""
    logdir = os.path.abspath(logdir)
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"{logdir} is not a directory; give the TensorBoard log directory "
                                "(the one you pass to `tensorboard --logdir`)")
    runs = find_run_dirs(logdir)
    if not runs:
        raise FileNotFoundError(f"no TensorBoard event files (events.out.tfevents.*) under {logdir}")
    project = project or os.path.basename(logdir) or "tensorboard"
    out = []
    for run_dir in runs:
        rel = os.path.relpath(run_dir, logdir)
        out.append(import_run_dir(run_dir, os.path.basename(logdir) if rel == "." else rel, project,
                                  seetrain_logdir))
    return out


__all__: Iterable[str] = ["sync_tensorboard", "TensorBoardSync", "summary_values", "import_logdir",
                          "find_run_dirs", "iter_events"]

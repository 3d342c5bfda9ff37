"""``seetrain export RUN --format torchscript|onnx|safetensors``: a trained run's model as a file
other programs load without SeeTrain (TorchScript, ONNX) or as plain weights (safetensors, with
the run's config and classes in its metadata)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

from .errors import TrainConfigError

FORMATS = {"torchscript": ".pt", "onnx": ".onnx", "safetensors": ".safetensors"}


@dataclass
class Exported:
    """Where the exported file is and what it holds."""

    path: str
    format: str
    checkpoint: str
    bytes: int
    tracked_in: Optional[str] = None


def _onnx(model, example, path: str) -> None:
    import torch

    try:
        import onnx  # noqa: F401 - the exporter needs it; say so before a long trace
    except ImportError:
        raise TrainConfigError("--format onnx needs the onnx package (pip install onnx onnxscript); "
                               "--format torchscript needs nothing more") from None
    try:
        torch.onnx.export(model, (example,), path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    except ImportError as exc:  # the dynamo exporter's own dependencies (onnxscript)
        raise TrainConfigError(f"--format onnx: the exporter needs {exc.name or exc}; pip install onnx onnxscript") from None


def export(run: str, fmt: str, output: Optional[str] = None, logdir: Optional[str] = None,
           checkpoint: str = "best", track: bool = True) -> Exported:
    """Write ``run``'s model in ``fmt``; ``output`` defaults to ``<run dir>/export/model<ext>``."""
    import torch

    from .trained import load

    if fmt not in FORMATS:
        raise TrainConfigError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    trained = load(run, logdir, checkpoint)
    path = os.path.abspath(output or os.path.join(trained.run_dir, "export", "model" + FORMATS[fmt]))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    example = trained.example_input(2)
    meta = {"run": trained.run_id, "checkpoint": os.path.basename(trained.checkpoint),
            "classes": trained.classes, "mean": trained.mean, "std": trained.std,
            "input_shape": list(example.shape[1:]), "model": trained.config.get("model")}
    tmp = path + ".part"
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(trained.model, example)
        torch.jit.save(traced, tmp, _extra_files={"seetrain.json": json.dumps(meta)})
    elif fmt == "onnx":
        _onnx(trained.model, example, tmp)
    else:
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous() for k, v in trained.model.state_dict().items()}
        save_file(state, tmp, metadata={"seetrain": json.dumps(meta)})
    os.replace(tmp, path)
    out = Exported(path=path, format=fmt, checkpoint=trained.checkpoint, bytes=os.path.getsize(path))
    if track:
        from .linked_run import track as track_run

        out.tracked_in = track_run("export", trained, {"export/bytes": out.bytes},
                                   {"format": fmt, "path": path})
    return out

"""Media values: Image, Audio, Text, Histogram, Table.

A media object copies its input when created (so the caller may reuse its buffer; a file path is
read then, so later changes to the file do not change what was logged) and is encoded to a
standard file under ``media/`` by the media thread, never on the ``log()`` hot path. A media
object built from bad input does not raise: it carries an ``error`` that ``log()`` reports once,
naming the key, and the rest of the record is kept (``strict=True`` raises there). What can be
checked cheaply is checked then: a path image or WAV by its header, histogram edges by their order.
What only full decoding finds (a truncated image) is a :class:`MediaInputError` in the media
thread: one warning naming the key, never counted as a lost record; ``strict=True`` raises it at
the next ``log()``.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, Dict, Optional, Sequence, Tuple

from .lazy import require


def _np():
    return require("numpy", "media", "media values")


def _to_numpy(data: Any):
    """NumPy array from a NumPy array, a torch tensor (without importing torch) or a sequence."""
    np = _np()
    if "torch" in sys.modules and type(data).__module__.startswith("torch"):
        data = data.detach().cpu()
        if str(data.dtype) in ("torch.bfloat16", "torch.float16"):
            data = data.float()
        data = data.numpy()
    return np.array(data, copy=True)


_made_dirs: set = set()  # media folders known to exist (the writer creates each once)


_prepared: set = set()  # Media classes whose writer's modules are imported


def _import_for_writing(media: "Media") -> None:
    """Import, in the calling thread, every module the media thread will write ``media`` with.

    Never first in the media thread: a module being imported is locked by the importing thread,
    and a process forked then (a data loader worker, ``multiprocessing``) inherits the lock held
    by a thread it does not have; its first import of that module (Pillow to decode an image,
    ``wave`` ...) waits forever (tests/core/test_fork_after_first_media_log.py). A module that is
    not installed makes the value carry the error (``log()`` reports it, naming the extra to install).
    """
    cls = type(media)
    if cls in _prepared:
        return
    try:
        cls._prepare_writing()
    except Exception as exc:
        media._fail(f"could not prepare the {media.kind} for writing ({type(exc).__name__}: {exc})")
    else:
        _prepared.add(cls)


class MediaInputError(ValueError):
    """The media's own input cannot be encoded (found only when the media thread decodes it, e.g.
    a truncated image): bad input, not a disk fault. The message says what to pass instead."""


class Media:
    """Base class of loggable media. Subclasses implement :meth:`_write`."""

    kind = "media"
    suffix = ".bin"
    writer_modules: Tuple[str, ...] = ()  # what _write imports: imported when the value is made

    def __init__(self, caption: Optional[str] = None) -> None:
        self.caption = None if caption is None else str(caption)
        self.error: Optional[str] = None
        _import_for_writing(self)

    @classmethod
    def _prepare_writing(cls) -> None:
        """Import what :meth:`_write` uses (called in the thread that makes the value)."""
        for module in cls.writer_modules:
            require(module, "media", f"{cls.kind} values")

    def _fail(self, message: str) -> None:
        self.error = message

    @property
    def nbytes(self) -> int:
        """Bytes this value holds in memory until it is written (for the queue's byte bound)."""
        return 1024

    def _write(self, path: str) -> Dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def write_file(self, run_dir: str, rel_path: str, schema: Any = None) -> Tuple[str, Dict[str, Any]]:
        """Write the file ``run_dir/rel_path + suffix``; return its path relative to ``run_dir`` and
        what the record's media reference says of it (size, sample rate ...). ``schema`` is the run
        directory's format module (``media_ref``, ``tag``), for media that hold references (a table)."""
        rel, full = self._place(run_dir, rel_path)
        return rel, self._write(full)

    def _place(self, run_dir: str, rel_path: str) -> Tuple[str, str]:
        """The file's path relative to ``run_dir`` and in full, its folder made (once per process)."""
        rel = rel_path + self.suffix
        full = os.path.join(run_dir, rel)
        folder = os.path.dirname(full)
        if folder not in _made_dirs:
            os.makedirs(folder, exist_ok=True)
            _made_dirs.add(folder)
        return rel, full

    def __repr__(self) -> str:
        return f"{type(self).__name__}(caption={self.caption!r}{', error=' + repr(self.error) if self.error else ''})"


class Image(Media):
    """An image from a NumPy array (HW, HWC or CHW), a PIL image, a torch tensor or a file path.

    Float arrays are taken to be in [0, 1] and scaled to 0..255; integer arrays are clipped to 0..255.
    """

    kind = "image"
    suffix = ".png"
    writer_modules = ("PIL.Image",)

    def __init__(self, data: Any, caption: Optional[str] = None, mode: Optional[str] = None) -> None:
        super().__init__(caption)
        self._array = None
        self._pil = None
        self._bytes: Optional[bytes] = None
        self._path = ""
        try:
            self._take(data, mode)
        except Exception as exc:  # never raise into the training loop
            self._fail(f"could not read the image ({type(exc).__name__}: {exc})")

    @classmethod
    def _prepare_writing(cls) -> None:
        super()._prepare_writing()
        sys.modules["PIL.Image"].preinit()  # Pillow's PNG/JPEG/GIF/BMP/PPM plugins, else imported by open()/save()

    def _take(self, data: Any, mode: Optional[str]) -> None:
        if isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
            if not os.path.isfile(path):
                self._fail(f"image file {path!r} does not exist")
                return
            with open(path, "rb") as f:  # read now: the file may change after log()
                self._bytes = f.read()
            self._path = path
            try:  # the header only (cheap): a file that is no image is refused here, at log()
                require("PIL.Image", "media", "images").open(io.BytesIO(self._bytes))
            except Exception as exc:
                self._fail(f"image file {path!r} is not an image Pillow can read ({type(exc).__name__}); "
                           "pass a PNG, JPEG, GIF, BMP or WebP file, an array or a PIL image")
            return
        if type(data).__module__.startswith("PIL."):
            self._pil = data.copy()
            return
        arr = _to_numpy(data)
        np = _np()
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = np.transpose(arr, (1, 2, 0))  # CHW -> HWC
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)) or arr.size == 0:
            self._fail(
                f"image array has shape {tuple(arr.shape)}; expected (H, W), (H, W, C) or (C, H, W) "
                "with C in 1, 3 or 4"
            )
            return
        if arr.dtype.kind == "f":
            arr = np.nan_to_num(arr, nan=0.0)
            arr = (np.clip(arr, 0.0, 1.0) * 255.0).round()
        elif arr.dtype.kind == "b":
            arr = arr.astype(np.uint8) * 255
        self._array = np.clip(arr, 0, 255).astype(np.uint8)

    def _write(self, path: str) -> Dict[str, Any]:
        PIL_Image = require("PIL.Image", "media", "images")
        if self._bytes is not None:
            try:
                img = PIL_Image.open(io.BytesIO(self._bytes))
                img.load()
            except Exception as exc:
                raise MediaInputError(f"image file {self._path!r} could not be decoded ({type(exc).__name__}: {exc}); "
                                      "check that the file is complete, or pass an array or a PIL image") from None
        elif self._pil is not None:
            img = self._pil
        else:
            img = PIL_Image.fromarray(self._array)
        if img.mode not in ("L", "RGB", "RGBA", "LA", "P", "I;16"):
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        img.save(path, format="PNG")
        return {"width": img.width, "height": img.height}

    @property
    def nbytes(self) -> int:
        if self._array is not None:
            return int(self._array.nbytes)
        if self._bytes is not None:
            return len(self._bytes)
        if self._pil is not None:
            return self._pil.width * self._pil.height * len(self._pil.getbands())
        return 1024


class Audio(Media):
    """Audio from a 1-D (mono) or 2-D (samples x channels, or channels x samples) array, or a WAV path."""

    kind = "audio"
    suffix = ".wav"
    writer_modules = ("wave",)

    def __init__(self, data: Any, sample_rate: Optional[int] = None, caption: Optional[str] = None) -> None:
        super().__init__(caption)
        self.sample_rate = sample_rate
        self._array = None
        self._bytes: Optional[bytes] = None
        self._path = ""
        try:
            self._take(data)
        except Exception as exc:
            self._fail(f"could not read the audio ({type(exc).__name__}: {exc})")

    def _take(self, data: Any) -> None:
        if isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
            if not os.path.isfile(path):
                self._fail(f"audio file {path!r} does not exist")
                return
            with open(path, "rb") as f:  # read now: the file may change after log()
                self._bytes = f.read()
            self._path = path
            try:  # the header only: a file that is no WAV is refused here, at log()
                self._wav_info()
            except Exception as exc:
                self._fail(f"audio file {path!r} is not a WAV file ({type(exc).__name__}: {exc}); pass a PCM WAV "
                           "file, or an array with sample_rate=")
            return
        if not self.sample_rate or int(self.sample_rate) <= 0:
            self._fail("audio from an array needs sample_rate=<positive int>, e.g. Audio(x, sample_rate=16000)")
            return
        np = _np()
        arr = _to_numpy(data)
        if arr.ndim == 2 and arr.shape[0] < arr.shape[1] and arr.shape[0] <= 8:
            arr = arr.T  # channels x samples -> samples x channels
        if arr.ndim not in (1, 2) or arr.size == 0:
            self._fail(f"audio array has shape {tuple(arr.shape)}; expected (samples,) or (samples, channels)")
            return
        if arr.dtype.kind == "f":
            arr = (np.clip(np.nan_to_num(arr), -1.0, 1.0) * 32767.0).astype(np.int16)
        elif arr.dtype != np.int16:
            arr = np.clip(arr, -32768, 32767).astype(np.int16)
        self._array = arr

    def _write(self, path: str) -> Dict[str, Any]:
        import wave

        if self._bytes is not None:
            try:
                info = self._wav_info()
            except Exception as exc:
                raise MediaInputError(f"audio file {self._path!r} could not be decoded ({type(exc).__name__}: "
                                      f"{exc}); pass a PCM WAV file, or an array with sample_rate=") from None
            with open(path, "wb") as f:
                f.write(self._bytes)
            return info
        arr = self._array
        channels = 1 if arr.ndim == 1 else arr.shape[1]
        with wave.open(path, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(int(self.sample_rate))
            w.writeframes(arr.astype("<i2").tobytes())
        return {"sample_rate": int(self.sample_rate), "channels": channels,
                "duration": arr.shape[0] / float(self.sample_rate)}

    def _wav_info(self) -> Dict[str, Any]:
        import wave

        with wave.open(io.BytesIO(self._bytes or b""), "rb") as w:
            return {"sample_rate": w.getframerate(), "channels": w.getnchannels(),
                    "duration": w.getnframes() / float(w.getframerate())}

    @property
    def nbytes(self) -> int:
        if self._array is not None:
            return int(self._array.nbytes)
        return len(self._bytes or b"") or 1024


class Text(Media):
    """A piece of text, stored as a UTF-8 ``.txt`` file."""

    kind = "text"
    suffix = ".txt"

    def __init__(self, text: Any, caption: Optional[str] = None) -> None:
        super().__init__(caption)
        self.text = text if isinstance(text, str) else str(text)

    def _write(self, path: str) -> Dict[str, Any]:
        with open(path, "w", encoding="utf-8", errors="replace") as f:
            f.write(self.text)
        return {"chars": len(self.text), "preview": self.text[:200]}

    @property
    def nbytes(self) -> int:
        return len(self.text) + 64


class Histogram(Media):
    """A histogram from raw ``values`` (NumPy, torch, list) or precomputed ``bins`` edges and ``counts``.

    Stored as JSON (``bins`` has ``len(counts) + 1`` edges) under ``media/``.
    """

    kind = "histogram"
    suffix = ".json"
    writer_modules = ("orjson", "numpy")

    def __init__(self, values: Any = None, bins: Any = 64, counts: Optional[Sequence[float]] = None,
                 caption: Optional[str] = None) -> None:
        super().__init__(caption)
        self._values = None
        self._edges = None
        self._counts = None
        self._nbins = 64
        try:
            if counts is not None:
                self._edges = [float(x) for x in _to_numpy(bins).ravel()]
                self._counts = [float(x) for x in _to_numpy(counts).ravel()]
                if len(self._edges) != len(self._counts) + 1:
                    self._fail(f"histogram has {len(self._counts)} counts but {len(self._edges)} bin edges; "
                               "pass len(counts) + 1 edges")
                else:
                    self._check_edges(self._edges)
            elif values is not None:
                arr = _to_numpy(values).astype("float64").ravel()
                self._values = arr[_np().isfinite(arr)]
                self._nbins = int(bins) if not hasattr(bins, "__len__") else len(bins) - 1
                if not hasattr(bins, "__len__") and self._nbins <= 0:
                    self._fail("histogram bins must be a positive number of bins or a list of edges")
                elif hasattr(bins, "__len__"):
                    bins = [float(x) for x in _to_numpy(bins).ravel()]
                    self._check_edges(bins)
                self._bin_spec = bins if hasattr(bins, "__len__") else self._nbins
            else:
                self._fail("Histogram needs values=... or bins=... with counts=...")
        except Exception as exc:
            self._fail(f"could not read the histogram ({type(exc).__name__}: {exc})")

    def _check_edges(self, edges: Sequence[float]) -> None:
        if len(edges) < 2 or not all(a <= b for a, b in zip(edges, edges[1:])):  # NaN compares false
            shown = ", ".join(f"{e:g}" for e in edges[:8]) + (", ..." if len(edges) > 8 else "")
            self._fail(f"histogram bin edges must increase monotonically (finite, at least 2), got [{shown}]; "
                       "pass sorted edges, or a number of bins")

    def _write(self, path: str) -> Dict[str, Any]:
        import orjson

        if self._counts is None:
            np = _np()
            values = self._values if self._values.size else np.zeros(0)
            counts, edges = np.histogram(values, bins=self._bin_spec)
            self._counts, self._edges = counts.tolist(), edges.tolist()
        with open(path, "wb") as f:
            f.write(orjson.dumps({"bins": self._edges, "counts": self._counts}))
        return {"bins": self._edges, "counts": self._counts}

    @property
    def nbytes(self) -> int:
        if self._values is not None:
            return int(self._values.nbytes)
        return 16 * len(self._counts or ()) + 64


MAX_TABLE_CELLS = 100_000


class Table(Media):
    """A table logged per step: ``Table(columns=["input", "pred", "p"], data=[[Image(x), "cat", 0.9], ...])``.

    A cell holds a number, text, a bool, None or a :class:`Image`. Stored as JSON
    (``{"columns": [...], "data": [[...]]}``) under ``media/``; each image cell is its own PNG beside
    it, named in the JSON by a media reference and in the record's reference under ``files`` (so the
    sender and the server store them like any image). NaN and infinities are written as their tags.
    """

    kind = "table"
    suffix = ".json"
    writer_modules = ("orjson",)  # its image cells are Images, prepared when they were made

    def __init__(self, columns: Sequence[Any], data: Sequence[Sequence[Any]] = (),
                 caption: Optional[str] = None) -> None:
        super().__init__(caption)
        self.columns: list = []
        self.rows: list = []
        try:
            self._take(columns, data)
        except Exception as exc:  # never raise into the training loop
            self._fail(f"could not read the table ({type(exc).__name__}: {exc})")

    def _take(self, columns: Sequence[Any], data: Sequence[Sequence[Any]]) -> None:
        if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
            self._fail("Table columns must be a list of column names, e.g. Table(columns=[\"input\", \"label\"], data=...)")
            return
        self.columns = [str(c) for c in columns]
        if not self.columns:
            self._fail("Table needs at least one column: Table(columns=[\"input\", \"label\"], data=...)")
            return
        rows = [list(r) if not isinstance(r, (str, bytes)) and hasattr(r, "__iter__") else None for r in data]
        ncols = len(self.columns)
        if len(rows) * ncols > MAX_TABLE_CELLS:
            self._fail(f"Table has {len(rows) * ncols:,} cells, more than {MAX_TABLE_CELLS:,}; log fewer rows per step")
            return
        for i, row in enumerate(rows):
            if row is None or len(row) != ncols:
                got = "is not a list" if row is None else f"has {len(row)} cells"
                self._fail(f"Table row {i} {got}; each row needs {ncols} cells, one per column {self.columns}")
                return
            for j, cell in enumerate(row):
                value = _cell(cell)
                if value is _BAD_CELL:
                    self._fail(f"Table cell (row {i}, column {self.columns[j]!r}) is a {type(cell).__name__}; a cell "
                               "holds a number, text, a bool, None or a seetrain.Image")
                    return
                if isinstance(value, Image) and value.error:
                    self._fail(f"Table cell (row {i}, column {self.columns[j]!r}): {value.error}")
                    return
                row[j] = value
        self.rows = rows

    def write_file(self, run_dir: str, rel_path: str, schema: Any = None) -> Tuple[str, Dict[str, Any]]:
        """Write each image cell as ``rel_path/<row>_<col>.png`` and the table as ``rel_path.json``;
        the reference's fields name the columns, the row count and the image ``files``. ``schema``
        (:mod:`seetrain.rundir.format`, passed by the media writer: this module sits below it) makes
        each image cell's reference and tags NaN and infinities."""
        import orjson

        media_ref, tag = schema.media_ref, schema.tag

        files: list = []
        out = []
        for i, row in enumerate(self.rows):
            cells = []
            for j, cell in enumerate(row):
                if isinstance(cell, Image):
                    path, fields = cell.write_file(run_dir, f"{rel_path}/{i}_{j}")
                    files.append(path)
                    cells.append(media_ref(cell.kind, path, fields, cell.caption))
                else:
                    cells.append(tag(cell))
            out.append(cells)
        rel, full = self._place(run_dir, rel_path)
        with open(full, "wb") as f:
            f.write(orjson.dumps({"columns": self.columns, "data": out}))
        return rel, {"columns": self.columns, "rows": len(out), "files": files}

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes if isinstance(c, Image) else 32 for row in self.rows for c in row) + 64


_BAD_CELL = object()


def _cell(value: Any) -> Any:
    """A table cell as stored: a number, text, bool, None or an Image; ``_BAD_CELL`` for anything else
    (a NumPy or torch scalar becomes its Python number)."""
    if value is None or isinstance(value, (bool, int, float, str, Image)):
        return value
    if callable(getattr(value, "item", None)) and tuple(getattr(value, "shape", (0,))) == ():
        try:
            return _cell(value.item())
        except Exception:
            return _BAD_CELL
    import decimal
    import numbers

    if isinstance(value, (decimal.Decimal, numbers.Real)):
        return float(value)
    return _BAD_CELL


MEDIA_TYPES = (Image, Audio, Text, Histogram, Table)

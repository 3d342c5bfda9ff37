"""Environment capture (host, Python, git, packages) and the system-metrics sampler."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional

from .thread_imports import load  # this module's threads import through it: a fork waits for them


def basic_environment() -> Dict[str, Any]:
    """Cheap facts, gathered synchronously in ``init()``."""
    return {
        "host": hostname(),
        "pid": os.getpid(),
        "python": "%d.%d.%d" % sys.version_info[:3],
        "platform": sys.platform,
        "executable": sys.executable,
        "command": [sys.argv[0]] + sys.argv[1:] if sys.argv and sys.argv[0] else list(sys.argv),
        "cwd": os.getcwd(),
    }


def hostname() -> str:
    """This host's name (``socket.gethostname()`` without importing socket)."""
    try:
        return os.uname().nodename
    except Exception:  # pragma: no cover - not POSIX
        import socket

        return socket.gethostname()


def _git(*args: str, cwd: Optional[str] = None) -> Optional[str]:
    subprocess = load("subprocess")

    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(cwd: Optional[str] = None) -> Dict[str, Any]:
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if commit is None:
        return {}
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return {"commit": commit, "branch": _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd),
            "dirty": bool(status)}


def installed_packages() -> Dict[str, str]:
    """Installed distributions, read from ``*.dist-info`` folder names on ``sys.path`` (milliseconds,
    where ``importlib.metadata`` takes a few hundred)."""
    pkgs: Dict[str, str] = {}
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") or name.endswith(".egg-info"):
                stem = name.rsplit(".", 1)[0]
                if "-" in stem:
                    dist, version = stem.split("-", 1)
                    pkgs.setdefault(dist.replace("_", "-").lower(), version.split("-")[0])
    return dict(sorted(pkgs.items()))


def full_environment() -> Dict[str, Any]:
    """Slower facts (git, packages, hardware), gathered off the record path after ``init()``."""
    platform = load("platform")

    env: Dict[str, Any] = {"platform": platform.platform(), "cpu_count": os.cpu_count()}
    try:
        env["memory_total"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    git = git_info()
    if git:
        env["git"] = git
    env["packages"] = installed_packages()
    gpus = _gpu_names()
    if gpus:
        env["gpus"] = gpus
    return env


class EnvironmentCapture(threading.Thread):
    """Gathers :func:`full_environment` on its own thread, so a slow ``git`` never delays records.

    It starts a moment after ``init()`` returned (its imports and subprocesses would otherwise
    take GIL time from ``init()``); :meth:`finish` asks it to run at once and waits a bounded time.
    """

    def __init__(self, deliver: Callable[[Dict[str, Any]], None], delay: float = 0.3) -> None:
        super().__init__(name="seetrain-environment", daemon=True)
        self.deliver = deliver
        self.delay = delay
        self.result: Optional[Dict[str, Any]] = None
        self._now = threading.Event()

    def run(self) -> None:
        self._now.wait(self.delay)
        try:
            self.result = full_environment()
            self.deliver(self.result)
        except Exception:
            pass  # environment capture is best effort

    def finish(self, timeout: float) -> Optional[Dict[str, Any]]:
        """Run now if still waiting; wait up to ``timeout`` seconds; the facts, if ready."""
        self._now.set()
        self.join(timeout)
        return self.result


def _nvml():
    try:
        pynvml = load("pynvml")  # provided by nvidia-ml-py (extra "gpu")

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def _gpu_names():
    nv = _nvml()
    if nv is None:
        return []
    try:
        return [str(nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(i)))
                for i in range(nv.nvmlDeviceGetCount())]
    except Exception:
        return []


class SystemSampler(threading.Thread):
    """Samples CPU, memory, disk, network (and NVIDIA GPUs) every ``interval`` seconds into ``sys/*`` keys."""

    def __init__(self, emit: Callable[[Dict[str, float]], None], interval: float = 10.0) -> None:
        super().__init__(name="seetrain-system", daemon=True)
        self.emit = emit
        self.interval = interval
        self._stop_event = threading.Event()
        self._last: Optional[Dict[str, float]] = None

    def sample(self) -> Dict[str, float]:
        psutil = load("psutil")

        now = time.monotonic()
        proc = psutil.Process()
        vm = psutil.virtual_memory()
        out: Dict[str, float] = {
            "sys/cpu_percent": psutil.cpu_percent(interval=None),
            "sys/proc_rss_mb": proc.memory_info().rss / 2**20,
            "sys/proc_cpu_percent": proc.cpu_percent(interval=None),
            "sys/mem_percent": vm.percent,
            "sys/mem_used_mb": (vm.total - vm.available) / 2**20,
        }
        try:
            out["sys/disk_percent"] = psutil.disk_usage(os.getcwd()).percent
        except Exception:
            pass
        counters = {}
        try:
            d = psutil.disk_io_counters()
            if d:
                counters.update(disk_read=d.read_bytes, disk_write=d.write_bytes)
        except Exception:
            pass
        try:
            n = psutil.net_io_counters()
            counters.update(net_sent=n.bytes_sent, net_recv=n.bytes_recv)
        except Exception:
            pass
        if self._last is not None:
            dt = max(now - self._last["_t"], 1e-6)
            for k, v in counters.items():
                if k in self._last:
                    out[f"sys/{k}_mb_s"] = max(v - self._last[k], 0) / 2**20 / dt
        self._last = dict(counters, _t=now)
        out.update(self._gpu())
        return out

    def _gpu(self) -> Dict[str, float]:
        nv = getattr(self, "_nv", None)
        if nv is None:
            return {}
        out = {}
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                util = nv.nvmlDeviceGetUtilizationRates(h)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                out[f"sys/gpu{i}/util_percent"] = float(util.gpu)
                out[f"sys/gpu{i}/mem_used_mb"] = mem.used / 2**20
                out[f"sys/gpu{i}/mem_percent"] = 100.0 * mem.used / max(mem.total, 1)
        except Exception:
            pass
        return out

    def run(self) -> None:
        # start after init() has returned, so importing psutil/pynvml does not slow it down
        if self._stop_event.wait(min(0.5, self.interval)):
            return
        self._nv = _nvml()
        try:
            self.sample()  # prime the rate counters and cpu_percent
        except Exception:
            return
        while not self._stop_event.wait(self.interval):
            try:
                self.emit(self.sample())
            except Exception:
                pass

    def stop(self) -> None:
        self._stop_event.set()

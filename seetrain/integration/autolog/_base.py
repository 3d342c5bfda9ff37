"""The shared machinery of the LLM autolog adapters.

An adapter (``OpenAIAutolog``, ...) lists the client methods it patches, each with an
:class:`~seetrain.integration.autolog._formats.Endpoint`. Every patched call becomes one record in
the run, at step = the provider's call index (0, 1, 2, ...)::

    <p>/latency_s                 seconds from the call to the response (to the end of a stream)
    <p>/ttft_s                    streams: seconds to the first chunk with generated content
    <p>/tokens/prompt             prompt (input) tokens, as the API reports them
    <p>/tokens/completion         completion (output) tokens
    <p>/tokens/total              prompt + completion
    <p>/params/<name>             numeric request parameters (temperature, max_tokens, top_p, ...)
    <p>/error/status              the HTTP status of a failed call (429, 500, ...)
    <p>/total/calls, <p>/total/errors, <p>/total/tokens, <p>/total/prompt_tokens,
    <p>/total/completion_tokens   running totals since autolog was enabled
    <p>/call                      Text: JSON with endpoint, model, stream, params, finish_reason,
                                  usage, latency, and the error type / status / message
    <p>/messages, <p>/response    Text: the prompt and the answer (``log_messages=True``),
    <p>/thinking                  Text: extended thinking (Anthropic), apart from the answer,
                                  cut at ``max_text_chars``

``<p>`` is the provider (``openai``, ``anthropic``, ``zhipuai``). Texts are rendered on the writer
thread, not on the caller's. Headers are never read; parameter names that look like secrets and
values that look like keys (``sk-...``, ``Bearer ...``, JWTs, the client's own API key) are
replaced by ``[redacted]`` everywhere.
"""

from __future__ import annotations

import re
import threading
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from seetrain.media import Text

from . import _patch
from ._formats import Call, Endpoint, given, request_params  # noqa: F401  (Call: re-exported)
from ._stream import (CallRecorder, _arecording_iter, _end_on_gc, _guarded_end,  # noqa: F401  (re-exported)
                      _guarded_item, _recording_iter, client_secrets, instrument_stream)

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(?i)(api[_-]?key|secret|passw(or)?d|authori[sz]ation|bearer|cookie|credential|"
                          r"private|(^|[_\-.])(key|token|auth)($|[_\-.]))")
_SECRET_VALUE = re.compile(r"(?i)(\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}|\bbearer\s+\S+|"
                           r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)")
DEFAULT_MAX_TEXT_CHARS = 20_000


def looks_secret_name(name: Any) -> bool:
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """Replace key-like values and the given secrets in ``text``."""
    for s in secrets:
        if s and s in text:
            text = text.replace(s, REDACTED)
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(obj: Any, secrets: Sequence[str] = (), depth: int = 0) -> Any:
    """A JSON-friendly copy of ``obj`` with secret-named fields and key-like strings redacted."""
    if depth > 6:
        return "..."
    if isinstance(obj, str):
        return scrub(obj, secrets)
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if isinstance(obj, dict):
        return {str(k): (REDACTED if looks_secret_name(k) else redact(v, secrets, depth + 1))
                for k, v in obj.items() if given(v)}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
        out = [redact(v, secrets, depth + 1) for v in items[:50]]
        if len(items) > 50:
            out.append(f"... {len(items) - 50} more")
        return out
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return redact(dump(), secrets, depth + 1)
        except Exception:
            pass
    return scrub(repr(obj), secrets)


def truncate(text: str, limit: int) -> str:
    if limit and len(text) > limit:
        return f"{text[:limit]}\n... [truncated by seetrain: {len(text)} characters in total]"
    return text


class LazyText(Text):
    """A :class:`seetrain.Text` whose content is rendered when the writer thread writes it."""

    def __init__(self, render: Callable[[], str], caption: Optional[str] = None) -> None:
        super(Text, self).__init__(caption)
        self._render: Optional[Callable[[], str]] = render
        self._text: Optional[str] = None

    @property  # type: ignore[override]
    def text(self) -> str:
        if self._render is not None:
            try:
                self._text = self._render()
            except Exception as exc:
                _patch.report_failure("text", "render a text", exc)
                self._text = f"[seetrain could not render this text: {type(exc).__name__}]"
            self._render = None
        return self._text or ""

    @text.setter
    def text(self, value: str) -> None:
        self._render, self._text = None, value


def http_status(exc: BaseException) -> Optional[int]:
    for attr in ("status_code", "http_status", "status"):
        v = getattr(exc, attr, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    resp = getattr(exc, "response", None)
    v = getattr(resp, "status_code", None)
    return v if isinstance(v, int) else None


# --- the adapter ------------------------------------------------------------------------------
PatchTarget = Tuple[str, str, str, Endpoint, bool]   # (module, class, method, endpoint, is_async)


class AutologBase:
    """Patch an LLM client library's classes and record every call into a seetrain run.

    ``project`` / ``experiment_name`` / ``description`` / ``config`` describe the run created on the
    first call; with none of them given and a seetrain run already active, calls are recorded into
    that run (``seetrain.get_run()``). ``log_messages`` records prompts and answers as texts, cut at
    ``max_text_chars``. ``run=`` logs into a given run.
    """

    provider = "llm"            # registry name and key prefix
    distribution = "llm"        # package name for the version check
    tested_versions = ""        # PEP 440 specifier
    targets: Sequence[PatchTarget] = ()

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Optional[Dict[str, Any]] = None,
                 log_messages: bool = True, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
                 run: Any = None, tags: Optional[Sequence[str]] = None, **init_kwargs: Any) -> None:
        if not isinstance(max_text_chars, int) or max_text_chars < 0:
            raise ValueError(f"max_text_chars must be a non-negative int (0 = no limit), got {max_text_chars!r}")
        self.project = project
        self.experiment_name = experiment_name
        self.description = description
        self.config = dict(config) if config else None
        self.tags = tags
        self.init_kwargs = init_kwargs
        self.log_messages = bool(log_messages)
        self.max_text_chars = max_text_chars
        self._run = run
        self._owns_run = False
        self._lock = threading.Lock()
        self._patches: List[_patch.Patch] = []
        self._stream_kinds: Dict[type, Optional[Tuple[str, bool]]] = {}
        self.enabled = False
        self.finished = False
        self.version = self._check_version()
        p = self.provider
        self._keys = {
            "latency": f"{p}/latency_s", "ttft": f"{p}/ttft_s", "prompt": f"{p}/tokens/prompt",
            "completion": f"{p}/tokens/completion", "total": f"{p}/tokens/total", "status": f"{p}/error/status",
            "calls": f"{p}/total/calls", "errors": f"{p}/total/errors", "tot_tokens": f"{p}/total/tokens",
            "tot_prompt": f"{p}/total/prompt_tokens", "tot_completion": f"{p}/total/completion_tokens",
            "call": f"{p}/call", "messages": f"{p}/messages", "response": f"{p}/response", "params": f"{p}/params/",
            "thinking": f"{p}/thinking",
        }
        self.totals = {"calls": 0, "errors": 0, "tokens": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.enable()

    # --- version and patching ----------------------------------------------------------------
    def _check_version(self) -> Optional[str]:
        from importlib import metadata

        try:
            version = metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            from seetrain.integration.main import REGISTRY

            extra = REGISTRY[self.provider].extra if self.provider in REGISTRY else self.provider
            raise ImportError(f"SeeTrain's {self.provider} autolog needs the {self.distribution} package, which is "
                              f"not installed. Install it with: pip install \"seetrain[{extra}]\"") from None
        try:
            from packaging.specifiers import SpecifierSet
            from packaging.version import Version

            if self.tested_versions and Version(version) not in SpecifierSet(self.tested_versions):
                from seetrain import SeeTrainWarning

                warnings.warn(f"seetrain: {self.distribution} {version} is outside the versions SeeTrain's autolog "
                              f"is tested with ({self.tested_versions}); methods that are missing are skipped and "
                              "calls may be recorded incompletely", SeeTrainWarning, stacklevel=4)
        except Exception:
            pass
        return version

    def enable(self) -> "AutologBase":
        """Patch the client classes (a no-op when already enabled)."""
        if self.enabled:
            return self
        if self.finished:
            raise RuntimeError(f"this {type(self).__name__} is finished; enable a new one to record again")
        import importlib

        missing = []
        for module, cls_name, method, endpoint, is_async in self.targets:
            try:
                cls = getattr(importlib.import_module(module), cls_name)
            except (ImportError, AttributeError):
                missing.append(f"{module}.{cls_name}")
                continue
            if not hasattr(cls, method):
                missing.append(f"{module}.{cls_name}.{method}")
                continue
            self._patches.append(self._patch(cls, method, endpoint, is_async))
        if not self._patches:
            raise ImportError(f"SeeTrain's {self.provider} autolog found none of the client methods it patches in "
                              f"{self.distribution} {self.version}: {', '.join(missing)}. Supported versions: "
                              f"{self.tested_versions}")
        self.skipped = missing
        self.enabled = True
        return self

    def _patch(self, cls: type, method: str, endpoint: Endpoint, is_async: bool) -> _patch.Patch:
        def start(resource: Any, args: tuple, kwargs: dict) -> Optional[CallRecorder]:
            if not self.enabled:
                return None
            return CallRecorder(self, endpoint, resource, kwargs)

        return _patch.apply(cls, method, start, self.provider, is_async=is_async)

    def disable(self) -> None:
        """Restore every patched class attribute; later calls are not recorded."""
        self.enabled = False
        patches, self._patches = self._patches, []
        for p in patches:
            _patch.restore(p)

    # --- what counts as a response / stream ---------------------------------------------------
    def stream_kind(self, result: Any) -> Optional[Tuple[str, bool]]:
        """``(iterator attribute, is_async)`` if ``result`` is a stream this adapter can record."""
        t = type(result)
        try:
            return self._stream_kinds[t]
        except KeyError:
            pass
        kind = None
        for attr in ("_iterator", "_stream_chunks"):
            if attr in getattr(t, "__dict__", {}) or any(attr in getattr(b, "__dict__", {}) for b in t.__mro__) \
                    or attr in getattr(result, "__dict__", {}):
                if hasattr(t, "__anext__"):
                    kind = (attr, True)
                elif hasattr(t, "__next__"):
                    kind = (attr, False)
                break
        self._stream_kinds[t] = kind
        return kind

    def is_response(self, result: Any, endpoint: Endpoint) -> bool:
        """False for raw HTTP responses (``with_raw_response``), which are left unread."""
        return hasattr(type(result), "model_fields")

    # --- the run -----------------------------------------------------------------------------
    @property
    def experiment(self) -> Any:
        """The seetrain Run the calls are recorded into (created on first use)."""
        run = self._run
        if run is not None and (not run.finished or self.finished):
            return run  # after finish(): the run it recorded into, never a new one
        with self._lock:
            run = self._run
            if run is not None and not run.finished:
                return run
            import seetrain

            current = seetrain.get_run()
            explicit = any(v is not None for v in (self.project, self.experiment_name, self.description, self.config))
            if current is not None and not explicit and not self.init_kwargs:
                run, self._owns_run = current, False
                run.config.setdefaults({"_framework": self.provider})
            else:
                run = seetrain.init(project=self.project, experiment_name=self.experiment_name,
                                    description=self.description, config=self.config, tags=self.tags,
                                    **self.init_kwargs)
                self._owns_run = True
                run.config.update({"_framework": self.provider})
            run.config.update({f"{self.provider}_autolog": {"version": self.version, "log_messages": self.log_messages,
                                                            "max_text_chars": self.max_text_chars}})
            self._run = run
            return run

    def finish(self, status: str = "success") -> None:
        """Disable autolog and finish the run if this adapter created it."""
        self.disable()
        if self.finished:
            return
        self.finished = True
        run = self._run
        if run is not None and self._owns_run and not run.finished:
            run.finish(status)
        import sys

        main = sys.modules.get("seetrain.integration.main")
        if main is not None:  # started through enable_*_autolog: end that Integration too
            for it in main.active_integrations():
                if it.adapter is self:
                    it.finish(status)

    def __enter__(self) -> "AutologBase":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("crashed" if exc_type is not None else "success")

    # --- one record per call -----------------------------------------------------------------
    def emit(self, rec: CallRecorder, latency: float) -> None:
        """Record one finished call (``rec``) that took ``latency`` seconds."""
        if not self.enabled or self.finished:
            return
        run = self.experiment
        k = self._keys
        call = rec.call
        data: Dict[str, Any] = {k["latency"]: latency}
        if rec.ttft is not None:
            data[k["ttft"]] = rec.ttft
        pt, ct, tt = call.prompt_tokens, call.completion_tokens, call.total_tokens
        if tt is None and (pt is not None or ct is not None):
            tt = (pt or 0) + (ct or 0)
        if pt is not None:
            data[k["prompt"]] = pt
        if ct is not None:
            data[k["completion"]] = ct
        if tt is not None:
            data[k["total"]] = tt
        params = request_params(rec.kwargs)
        pk = k["params"]
        for name, v in params.items():
            if type(v) in (int, float) and not looks_secret_name(name):
                data[pk + name] = v
        status = None
        if rec.error is not None:
            status = http_status(rec.error)
            if status is not None:
                data[k["status"]] = status
        with self._lock:
            t = self.totals
            step = t["calls"]
            t["calls"] = step + 1
            if rec.error is not None:
                t["errors"] += 1
            t["tokens"] += tt or 0
            t["prompt_tokens"] += pt or 0
            t["completion_tokens"] += ct or 0
            data[k["calls"]] = t["calls"]
            data[k["errors"]] = t["errors"]
            data[k["tot_tokens"]] = t["tokens"]
            data[k["tot_prompt"]] = t["prompt_tokens"]
            data[k["tot_completion"]] = t["completion_tokens"]
        model = call.model if isinstance(call.model, str) else None
        data[k["call"]] = LazyText(lambda: self._render_call(rec, params, latency, tt, status),
                                   caption=f"{rec.endpoint.name} {model or ''}".strip())
        if self.log_messages:
            if rec.prompt is not None:
                data[k["messages"]] = LazyText(lambda: self._text(rec.endpoint.render_prompt(rec.prompt), rec))
            if rec.error is None and rec.endpoint.has_answer and not call.info.get("raw_response"):
                data[k["response"]] = LazyText(lambda: self._text(rec.endpoint.answer(rec.call) or "", rec))
                if call.thinking:  # reasoning, apart from the answer (streamed or not)
                    data[k["thinking"]] = LazyText(lambda: self._text("\n\n".join(call.thinking or ()), rec))
        run.log(data, step=step)

    def _text(self, text: str, rec: CallRecorder) -> str:
        return truncate(scrub(text, rec.secrets), self.max_text_chars)

    def _render_call(self, rec: CallRecorder, params: Dict[str, Any], latency: float, total: Optional[int],
                     status: Optional[int]) -> str:
        import json

        call = rec.call
        doc: Dict[str, Any] = {
            "provider": self.provider, "endpoint": rec.endpoint.name, "model": call.model, "stream": rec.stream,
            "params": redact(params, rec.secrets), "latency_s": round(latency, 6),
        }
        if rec.ttft is not None:
            doc["ttft_s"] = round(rec.ttft, 6)
        if rec.closed_early:
            doc["closed_early"] = True
        if call.finish_reason is not None:
            doc["finish_reason"] = str(call.finish_reason)
        doc["usage"] = {"prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
                        "total_tokens": total}
        if call.info:
            doc.update(call.info)
        if rec.error is not None:
            doc["error"] = {"type": f"{type(rec.error).__module__}.{type(rec.error).__qualname__}",
                            "status": status, "message": truncate(scrub(str(rec.error), rec.secrets), 2000)}
        return json.dumps(redact(doc, rec.secrets), ensure_ascii=False, indent=1, default=str)

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<{type(self).__name__} {self.distribution} {self.version} {state}, {self.totals['calls']} calls>"

"""The alert webhook: one Slack-compatible POST (``{"text": ...}``) per alert, from a background thread.

``seetrain.init(alert_webhook=URL)`` (or ``$SEETRAIN_ALERT_WEBHOOK``) turns it on. The training
thread only hands the alert over (:meth:`AlertWebhook.notify`: a lock, a rate-limit check, an
append); a daemon thread posts it with the shared retry (tenacity: 408/425/429/5xx, timeouts
and connection errors are retried with backoff; any other 4xx is not) inside a circuit breaker
(after 3 failed deliveries in a row it stops trying for 60 s). Nothing here raises into the
user's code; a failure is counted (``seetrain.resilience.get_error_stats()["alert.webhook"]``)
and warned about once. The alert itself is always in the run directory, webhook or not.

Rate limit (alert storms): at most one POST per title every ``per_title_s`` seconds (default 60,
as W&B's ``wait_duration``) and at most ``per_minute`` POSTs a minute in all (default 10); a
queue of at most ``max_pending`` alerts waits to be posted. What the limit holds back (or the
webhook failed to take) is counted and said in the next message ("3 earlier alerts not posted").
"""

from __future__ import annotations

import collections
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Deque, Dict, NamedTuple, Optional, Tuple

from .resilience import CircuitBreaker, CircuitOpenError, record_call, report_failure, with_retry

ENV = "SEETRAIN_ALERT_WEBHOOK"
OPERATION = "alert.webhook"


class WebhookError(Exception):
    """The webhook answered with an HTTP error (``status`` says which; 5xx are retried)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


class Alert(NamedTuple):
    """One alert waiting to be posted."""

    title: str
    text: str
    level: str
    run: str       # "project/name (id)"
    time: float


def check_url(url: Any) -> Optional[str]:
    """What is wrong with a webhook address (``None`` when it is an http(s) URL)."""
    if not isinstance(url, str):
        return f"alert_webhook should be a URL string, got {type(url).__name__}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"alert_webhook {url!r} is not an http(s) URL; give it as https://hooks.example.com/..."
    return None


_MARK = {"info": "ℹ️", "warn": "⚠️", "error": "🚨"}


def message(alert: Alert, held_back: int) -> Dict[str, str]:
    """The Slack-compatible body of one alert."""
    lines = [f"{_MARK.get(alert.level, '')} [{alert.level.upper()}] {alert.title}".strip(), f"run {alert.run}"]
    if alert.text:
        lines.insert(1, alert.text)
    if held_back:
        lines.append(f"({held_back} earlier alert{'s' if held_back != 1 else ''} not posted (rate limit or webhook "
                     "failure); every alert is in the run)")
    return {"text": "\n".join(lines)}


def post_json(url: str, body: Dict[str, Any], timeout: float) -> int:
    """POST ``body`` as JSON; the status, or :class:`WebhookError` for an HTTP error answer."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "seetrain-alerts"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(65536)
            return resp.status
    except urllib.error.HTTPError as exc:
        raise WebhookError(exc.code, str(exc.reason)) from None


class AlertWebhook:
    """Posts alerts to one webhook URL from a daemon thread, rate-limited, retried, never raising."""

    def __init__(self, url: str, *, per_title_s: float = 60.0, per_minute: int = 10, max_pending: int = 100,
                 timeout: float = 10.0, retries: int = 3, base_delay: float = 0.5, max_delay: float = 10.0,
                 breaker: Optional[CircuitBreaker] = None,
                 post: Callable[[str, Dict[str, Any], float], int] = post_json,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url, self.per_title_s, self.per_minute, self.max_pending = url, per_title_s, per_minute, max_pending
        self.timeout, self._post, self._clock = timeout, post, clock
        self.breaker = breaker or CircuitBreaker(failure_threshold=3, recovery_timeout=60.0,
                                                 name=f"{OPERATION}.breaker")
        self._send = with_retry(max_retries=retries, base_delay=base_delay, max_delay=max_delay,
                                operation=OPERATION)(self._post_once)
        self._cond = threading.Condition()
        self._pending: Deque[Tuple[Alert, int]] = collections.deque()  # (alert, held back before it)
        self._last_by_title: Dict[str, float] = {}
        self._recent: Deque[float] = collections.deque()  # times of the POSTs allowed in the last minute
        self._busy = False
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self.held_back = 0   # held back (or failed) since the last alert queued
        self.sent = 0        # delivered
        self.failed = 0      # given up on (retries spent, breaker open, or a 4xx)

    # --- the training thread -----------------------------------------------------------------
    def notify(self, alert: Alert) -> bool:
        """Queue ``alert`` for posting unless the rate limit holds it back (returns whether queued)."""
        now = self._clock()
        with self._cond:
            if self._closed:
                return False
            last = self._last_by_title.get(alert.title)
            while self._recent and now - self._recent[0] >= 60.0:
                self._recent.popleft()
            if ((last is not None and now - last < self.per_title_s) or len(self._recent) >= self.per_minute
                    or len(self._pending) >= self.max_pending):
                self.held_back += 1
                return False
            self._last_by_title[alert.title] = now
            self._recent.append(now)
            self._pending.append((alert, self.held_back))
            self.held_back = 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="seetrain-alert-webhook", daemon=True)
                self._thread.start()
            self._cond.notify()
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` s for queued alerts to be posted, then stop (True if all went)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            while (self._pending or self._busy) and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # --- the webhook thread ------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                alert, held = self._pending.popleft()
                self._busy = True
            try:
                self._deliver(alert, held)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _post_once(self, body: Dict[str, Any]) -> int:
        return self._post(self.url, body, self.timeout)

    def _deliver(self, alert: Alert, held: int) -> None:
        try:
            self.breaker.call(self._send, message(alert, held))
            self.sent += 1
        except CircuitOpenError as exc:
            record_call(OPERATION)
            self._failed(exc, held, "the alert webhook is failing; alerts go on being recorded in the run, "
                                    "and the webhook is tried again in a minute")
        except Exception as exc:
            self._failed(exc, held, "the alert was recorded in the run but not sent")
        except BaseException:  # interpreter shutdown: nothing to report
            pass

    def _failed(self, exc: BaseException, held: int, consequence: str) -> None:
        self.failed += 1
        with self._cond:
            self.held_back += held + 1  # what that message would have said, and itself, go with the next one
        try:
            report_failure(OPERATION, exc, f"the alert webhook {urllib.parse.urlsplit(self.url).hostname} "
                                           "did not take an alert", consequence, once=True)
        except Exception:  # -W error turns the warning into an exception on this thread
            pass

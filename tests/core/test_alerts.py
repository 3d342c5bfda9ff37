"""seetrain.alert: recorded in the run, read back, and posted to a real webhook (http.server on
127.0.0.1) once per alert: retried on 5xx, not on 4xx, rate-limited, never in the user's way."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import warnings
from typing import List, Optional

import pytest

import seetrain
from seetrain.alert_webhook import Alert, AlertWebhook
from seetrain.resilience import CircuitBreaker
from tests._child import run_python


class Webhook:
    """A webhook receiver on 127.0.0.1 that answers the statuses of ``script`` in turn, then 200."""

    def __init__(self, script: Optional[List[int]] = None, always: Optional[int] = None) -> None:
        self.script, self.always = list(script or []), always
        self.bodies: List[dict] = []
        self.calls = 0
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    hook.calls += 1
                    status = hook.always or (hook.script.pop(0) if hook.script else 200)
                    if status == 200:
                        hook.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def texts(self) -> List[str]:
        return [b["text"] for b in self.bodies]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook():
    made: List[Webhook] = []

    def make(**kw) -> Webhook:
        made.append(Webhook(**kw))
        return made[-1]

    yield make
    for w in made:
        w.close()


def _alerts(run_dir: str):
    return [e for e in seetrain.read_run(run_dir).events if e["event"] == "alert"]


def test_alert_is_recorded_and_read_back(logdir):
    run = seetrain.init(project="p", system_metrics=False)
    seetrain.log({"loss": 1.0})
    seetrain.alert("loss exploded", "loss=1e9 at step 0", level="error")
    run.alert("lr lowered", level="WARNING")  # an alias, any case
    run.alert("done")
    seetrain.finish()
    got = [(a["title"], a["text"], a["level"]) for a in _alerts(run.dir)]
    assert got == [("loss exploded", "loss=1e9 at step 0", "error"), ("lr lowered", "", "warn"), ("done", "", "info")]
    assert all(isinstance(a["time"], float) and isinstance(a["seq"], int) for a in _alerts(run.dir))


def test_bad_alert_input_is_recorded_with_a_warning_not_an_exception(logdir):
    run = seetrain.init(project="p", system_metrics=False)
    with pytest.warns(seetrain.SeeTrainWarning, match="alert level 'loud' is not one of info, warn, error"):
        run.alert("x", "y", level="loud")
    run.alert("", "z" * 20_000)
    seetrain.finish()
    a = _alerts(run.dir)
    assert a[0]["level"] == "info" and a[1]["title"] == "(untitled alert)" and len(a[1]["text"]) == 10_000


def test_bad_level_raises_under_strict(logdir):
    seetrain.init(project="p", system_metrics=False, strict=True)
    with pytest.raises(seetrain.SeeTrainError, match="alert level"):
        seetrain.alert("x", level=3)
    seetrain.finish()


def test_alert_without_a_run_warns_and_records_nothing(monkeypatch):
    monkeypatch.setattr(seetrain, "_warned_no_run", False)
    with pytest.warns(seetrain.SeeTrainWarning, match=r"seetrain.alert\(\) was called before seetrain.init"):
        seetrain.alert("nobody listens")


def test_webhook_gets_one_post_per_alert(logdir, webhook):
    hook = webhook()
    run = seetrain.init(project="p", experiment_name="exp", system_metrics=False, alert_webhook=hook.url)
    run.alert("first", "text one", level="info")
    run.alert("second", level="warn")
    run.alert("third", "boom", level="error")
    seetrain.finish()  # waits (a few seconds at most) for the webhook thread
    assert hook.calls == 3
    texts = hook.texts()
    assert [t.splitlines()[0] for t in texts] == ["ℹ️ [INFO] first", "⚠️ [WARN] second", "🚨 [ERROR] third"]
    assert "text one" in texts[0] and f"run p/exp ({run.id})" in texts[0]
    assert len(_alerts(run.dir)) == 3


def test_webhook_from_the_environment(logdir, webhook, monkeypatch):
    hook = webhook()
    monkeypatch.setenv("SEETRAIN_ALERT_WEBHOOK", hook.url)
    seetrain.init(project="p", system_metrics=False)
    seetrain.alert("from env")
    seetrain.finish()
    assert hook.calls == 1 and "from env" in hook.texts()[0]


def test_webhook_retried_on_5xx_then_delivered_once(logdir, webhook):
    hook = webhook(script=[503, 502])
    seetrain.init(project="p", system_metrics=False, alert_webhook=hook.url)
    seetrain.alert("flaky")
    seetrain.finish()
    assert hook.calls == 3 and len(hook.bodies) == 1 and "flaky" in hook.texts()[0]


def test_webhook_4xx_is_not_retried_and_the_breaker_stops_the_storm(logdir, webhook):
    hook = webhook(always=404)
    seetrain.init(project="p", system_metrics=False, alert_webhook=hook.url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(6):
            seetrain.alert(f"a{i}")
        seetrain.finish()
    # one call per alert (never retried) until three failures in a row open the breaker
    assert hook.calls == 3
    said = [str(w.message) for w in caught if "alert webhook" in str(w.message)]
    assert len(said) == 1 and "HTTP 404" in said[0] and "recorded in the run" in said[0]
    assert seetrain.resilience.get_error_stats()["alert.webhook"]["failures"] >= 3


def test_webhook_rate_limit_holds_back_a_storm_and_says_so(logdir, webhook):
    hook = webhook()
    run = seetrain.init(project="p", system_metrics=False, alert_webhook=hook.url)
    for i in range(50):
        run.alert("nan loss", f"step {i}")   # the same title: one POST a minute
    run.alert("other")
    seetrain.finish()
    assert hook.calls == 2
    assert "step 0" in hook.texts()[0] and "49 earlier alerts not posted" in hook.texts()[1]
    assert len(_alerts(run.dir)) == 51  # every alert is still in the run


def test_rate_limit_window_per_minute_and_per_title():
    sent: List[str] = []
    now = [1000.0]
    hook = AlertWebhook("http://unused.invalid/", per_title_s=60, per_minute=3,
                        post=lambda url, body, timeout: sent.append(body["text"]) or 200, clock=lambda: now[0])
    make = lambda title: Alert(title, "", "info", "p/r (id)", 0.0)
    assert [hook.notify(make(f"t{i}")) for i in range(5)] == [True, True, True, False, False]
    now[0] += 61  # a new minute: the count of those held back goes with the next message
    assert hook.notify(make("t0")) is True and hook.notify(make("t0")) is False
    assert hook.close(timeout=10)
    assert len(sent) == 4 and "2 earlier alerts not posted" in sent[3] and hook.held_back == 1


def test_webhook_down_leaves_the_exit_code_and_the_run_intact(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    script = tmp_path / "train.py"
    script.write_text(
        "import sys, seetrain\n"
        f"run = seetrain.init(project='p', logdir={str(tmp_path / 'logs')!r}, system_metrics=False,"
        f" alert_webhook={dead!r})\n"
        "seetrain.log({'loss': 1.0})\n"
        "seetrain.alert('diverged', 'loss is NaN', level='error')\n"
        "print(run.dir, flush=True)\n"
        "sys.exit(3)\n")
    done = run_python([str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    run_dir = done.stdout.strip()
    r = seetrain.read_run(run_dir)
    assert (r.status, r.exit_code) == ("failed", 3)
    assert [a["title"] for a in _alerts(run_dir)] == ["diverged"]
    assert "Traceback" not in done.stderr


def test_bad_webhook_url_warns_once_and_alerts_are_still_recorded(logdir):
    run = seetrain.init(project="p", system_metrics=False, alert_webhook="hooks.example.com/x")
    with pytest.warns(seetrain.SeeTrainWarning, match="is not an http\\(s\\) URL"):
        run.alert("one")
    run.alert("two")
    seetrain.finish()
    assert [a["title"] for a in _alerts(run.dir)] == ["one", "two"]


def test_breaker_open_skips_posting_without_blocking():
    calls: List[int] = []
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=3600, name="test.alert")

    def post(url, body, timeout):
        calls.append(1)
        raise ConnectionRefusedError(111, "refused")

    hook = AlertWebhook("http://127.0.0.1:9/", retries=0, breaker=breaker, post=post, per_minute=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(20):
            hook.notify(Alert(f"t{i}", "", "info", "p/r", 0.0))
        assert hook.close(timeout=10)
    assert len(calls) == 1 and hook.failed == 20

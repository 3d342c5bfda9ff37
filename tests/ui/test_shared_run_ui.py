"""The dashboard shows a shared run (issue 23) as one run in real Chromium: its writers' statuses,
a line per writer (or their mean with a min-max band), a writer filter, each writer's system
metrics and console. The run is written by three real processes (a launcher's RANK/WORLD_SIZE)
into the session's LOGDIR, which ``seetrain ui`` follows."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests._child import child_env

from .conftest import wait_for

WRITER = textwrap.dedent("""
    import sys, time, seetrain
    run = seetrain.init(project="shared", id="ddp", logdir=sys.argv[1], shared=True, system_interval=0.1)
    rank = run.writer.rank
    for i in range(50):
        run.log({"loss": 10.0 * rank + i})
    print(f"hello from rank {rank}", flush=True)
    time.sleep(0.6)  # a few system samples of this writer
    run.finish()
""")


@pytest.fixture(scope="module")
def shared_run(ui, demo_logdir, tmp_path_factory):
    script = tmp_path_factory.mktemp("shared_writer") / "writer.py"
    script.write_text(WRITER)
    procs = [subprocess.Popen([sys.executable, str(script), demo_logdir], env=child_env(
        dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="3")), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for r in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]

    def indexed():
        runs = ui.runs("shared")
        if len(runs) != 1 or runs[0]["status"] != "success":
            return None
        writers = ui.get(f"/runs/{runs[0]['uuid']}/writers")
        return runs[0] if len(writers) == 3 and all(w["status"] == "success" for w in writers) else None

    return wait_for(indexed, 60, "the shared run and its three writers in the index")


def test_the_run_page_shows_each_writer_its_lines_filter_system_metrics_and_console(page, shared_run):
    pg = page.open(f"/run/{shared_run['uuid']}")
    page.wait_rendered()
    pg.click('.tabs button[data-tab="writers"]')
    rows = pg.locator("table.writers tbody tr")
    rows.first.wait_for()
    assert rows.count() == 3
    table = pg.eval_on_selector_all("table.writers tbody tr", "rs => rs.map(r => [r.dataset.writer, r.dataset.status])")
    assert table == [["", "success"], ["rank1", "success"], ["rank2", "success"]]
    assert pg.inner_text("table.writers tbody tr:first-child td:first-child") == "rank0 (primary)"

    loss = '.writer-chart[data-key="loss"]'
    pg.wait_for_selector(f'{loss}[data-lines="3"]')
    assert pg.get_attribute(loss, "data-points") == "150"  # 3 writers x 50 points, none merged away
    sys_keys = pg.eval_on_selector_all(".writer-chart", "cs => cs.map(c => c.dataset.key).filter(k => k.startsWith('sys/'))")
    assert sys_keys, "no system metric chart"
    pg.wait_for_selector(f'.writer-chart[data-key="{sys_keys[0]}"][data-lines="3"]')  # each writer's own samples

    pg.uncheck('.writer-filter input[value="rank2"]')  # the writer filter
    pg.wait_for_selector(f'{loss}[data-lines="2"]')
    assert pg.get_attribute(loss, "data-points") == "100"

    pg.select_option('select[name="writers-view"]', "mean")  # mean of the writers shown, min-max band
    pg.wait_for_selector(f'{loss}[data-lines="1"][data-band="true"]')

    pg.select_option('select[name="writer-console"]', "rank1")
    pg.wait_for_selector('pre.writer-console[data-writer="rank1"]')
    assert "hello from rank 1" in pg.inner_text("pre.writer-console")
    assert "hello from rank 2" not in pg.inner_text("pre.writer-console")
    page.shot("shared-run-writers")


def test_a_one_writer_run_has_no_writers_tab(page, ui):
    run = ui.runs("demo")[0]
    pg = page.open(f"/run/{run['uuid']}")
    page.wait_rendered()
    assert pg.locator('.tabs button[data-tab="writers"]').count() == 0

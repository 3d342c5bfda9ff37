"""History edits in the dashboard (real ``seetrain ui``, real Chromium, issue 26): a forked run's
page links to its parent at the fork step, the parent's page lists the child, each link opens the
other run, and the child's chart holds the parent's history up to the step, then its own; a
rewound run's chart holds one point per step."""

from __future__ import annotations

import pytest

from .conftest import UI, Page, wait_for

QUIET = dict(system_metrics=False, console="off")


@pytest.fixture
def fork_ui(tmp_path):
    import seetrain

    logdir = str(tmp_path / "logs")
    parent = seetrain.init(project="lin", id="parent", experiment_name="parent-run", logdir=logdir, **QUIET)
    for s in range(40):
        parent.log({"loss": 1.0 / (s + 1)}, step=s)
    parent.finish()
    child = seetrain.init(project="lin", id="child", experiment_name="child-run", logdir=logdir,
                          fork_from=("parent", 25), **QUIET)
    for s in range(26, 31):
        child.log({"loss": 5.0}, step=s)
    child.finish()
    rewound = seetrain.init(project="lin", id="rewound", logdir=logdir, **QUIET)
    for s in range(31):
        rewound.log({"loss": 9.0}, step=s)
    rewound.finish()
    rewound = seetrain.init(project="lin", id="rewound", logdir=logdir, resume_from=10, **QUIET)
    for s in range(11, 21):
        rewound.log({"loss": 1.0}, step=s)
    rewound.finish()
    (tmp_path / "index").mkdir()
    ui = UI(logdir, str(tmp_path / "index"))
    try:
        wait_for(lambda: len(ui.runs("lin")) == 3 and all(r["status"] == "success" for r in ui.runs("lin")), 60,
                 "the three runs indexed")
        yield ui, parent.uuid, child.uuid, rewound.uuid
    finally:
        ui.stop()


def test_the_fork_link_is_on_both_run_pages_and_leads_to_the_other_run(browser, fork_ui):
    ui, parent_uuid, child_uuid, _ = fork_ui
    assert ui.get(f"/runs/{child_uuid}")["fork_from"]["uuid"] == parent_uuid
    p = Page(browser, ui)
    try:
        page = p.open(f"/run/{child_uuid}")
        p.wait_rendered()
        link = page.wait_for_selector(".runhead .lineage .fork-from a")
        assert "forked from parent-run at step 25" in page.inner_text(".runhead .lineage")
        assert int(p.chart("loss")["points"]) == 31  # 26 of the parent's points, then its own 5
        link.click()
        page.wait_for_function(f"location.hash === '#/run/{parent_uuid}'")
        kid = page.wait_for_selector(".runhead .lineage .forks a")
        assert page.inner_text(".runhead .lineage") == "forks: child-run (step 25)"
        p.shot("fork-lineage-parent", full_page=False)
        kid.click()
        page.wait_for_function(f"location.hash === '#/run/{child_uuid}'")
        page.wait_for_selector(".runhead .lineage .fork-from")
        assert not p.errors, p.errors[:5]
    finally:
        p.close()


def test_a_rewound_run_charts_one_point_per_step(browser, fork_ui):
    ui, _, _, rewound_uuid = fork_ui
    p = Page(browser, ui)
    try:
        p.open(f"/run/{rewound_uuid}")
        p.wait_rendered()
        assert int(p.chart("loss")["points"]) == 21  # steps 0..20: 11 kept, then 10 logged again
        assert not p.errors, p.errors[:5]
    finally:
        p.close()

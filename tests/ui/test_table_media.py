"""seetrain.Table as a media type in real Chromium: a sortable table (mouse and keyboard) with image
thumbnails that enlarge, and a step slider over the steps it was logged at."""

from __future__ import annotations

from tests._child import run_python

from .conftest import HERE, wait_for
from .make_tables import LABELS, SCORES

SECTION = "section.media[data-key=preds]"


def _rows(pg):
    """(label, score text) of every row of the table as shown."""
    return pg.eval_on_selector_all(f"{SECTION} table.media-table tbody tr",
                                   "rows => rows.map(r => [r.cells[1].textContent, r.cells[2].textContent])")


def test_table_sorts_shows_thumbnails_and_steps(page, ui, demo_logdir):
    p = run_python([str(HERE / "make_tables.py"), demo_logdir], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    run = wait_for(lambda: next((r for r in ui.runs("tables") if r["status"] == "success"), None), 60, "the tables run")
    wait_for(lambda: len(ui.get(f"/runs/{run['uuid']}/media", key="preds")) == 3, 60, "three tables in the index")
    pg = page.open(f"/run/{run['uuid']}")
    page.wait_rendered()
    pg.click("button[data-tab=media]")
    pg.wait_for_selector(f"{SECTION} .mtable[data-rows='5']", timeout=15_000)
    assert "step 20" in pg.text_content(f"{SECTION} .steplabel")
    assert _rows(pg) == [[lab, f"{s + 20:g}"] for lab, s in zip(LABELS, SCORES)]  # logged order

    thumbs = f"{SECTION} img.thumb"
    pg.wait_for_function(f"[...document.querySelectorAll('{thumbs}')].every(i => i.complete && i.naturalWidth === 8)")
    assert len(pg.query_selector_all(thumbs)) == 5

    pg.click(f"{SECTION} th[data-col=score]")
    pg.click(f"{SECTION} th[data-col=score]")  # a second click reverses
    order = sorted(range(5), key=lambda i: -SCORES[i])
    assert [r[0] for r in _rows(pg)] == [LABELS[i] for i in order]
    assert pg.get_attribute(f"{SECTION} th[data-col=score]", "aria-sort") == "descending"

    pg.focus(f"{SECTION} th[data-col=label]")
    pg.keyboard.press("Enter")
    assert [r[0] for r in _rows(pg)] == sorted(LABELS)

    pg.focus(f"{thumbs} >> nth=0")
    pg.keyboard.press("Enter")  # the keyboard enlarges a thumbnail too
    pg.wait_for_selector(".lightbox img")
    pg.keyboard.press("Escape")
    pg.wait_for_selector(".lightbox", state="detached")
    pg.click(f"{thumbs} >> nth=4")
    pg.wait_for_selector(".lightbox img")
    assert pg.eval_on_selector(".lightbox img", "e => e.getBoundingClientRect().width") >= 64
    page.shot("table-media-lightbox", full_page=False)
    pg.keyboard.press("Escape")
    pg.wait_for_selector(".lightbox", state="detached")

    pg.eval_on_selector(f"{SECTION} input[type=range]", "e => { e.value = 0; e.dispatchEvent(new Event('input')); }")
    pg.wait_for_function(f"document.querySelector('{SECTION} .mtable').dataset.step === '0' && "
                         f"document.querySelector('{SECTION} .mtable').dataset.rows === '5'")
    assert "step 0" in pg.text_content(f"{SECTION} .steplabel")
    assert _rows(pg) == [[lab, f"{s:g}"] for lab, s in zip(LABELS, SCORES)]
    page.shot("table-media")

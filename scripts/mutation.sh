#!/usr/bin/env bash
# Mutation testing of SeeTrain's core guarantees with mutmut 3 (pinned in the dev extra).
#
#   scripts/mutation.sh                 # every core module, one after the other
#   scripts/mutation.sh ingest auth     # only these (names: see MODULES below)
#   MUTATION_REF=HEAD scripts/mutation.sh series   # mutate a commit instead of the working tree
#   MUTATION_RESUME=1 scripts/mutation.sh ingest   # go on with a stopped run in its existing copy
#   MUTATION_TEST_TIMEOUT=120 scripts/mutation.sh ingest  # seconds a test may run before it fails (60)
#
# Each module is mutated in its own throw-away copy of the checkout ($MUTATION_DIR/<name>/, default
# /tmp/seetrain-mutation): mutmut writes its mutants/ there, never into this tree. Only the module's
# own test files run against its mutants. Tests that reach the code through child processes
# (servers, CLI calls, training scripts) count too: the children import the mutated copy
# (PYTHONPATH), run the active mutant (mutmut's MUTANT_UNDER_TEST is inherited), and report which
# functions they ran while mutmut maps functions to tests (a sitecustomize + a pytest plugin below).
#
# Output per module: $MUTATION_DIR/<name>/result.txt (killed/total and every survivor) and the log.
# Not part of every CI run: see docs/testing.md for how often to run it and the last scores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
OUTDIR="${MUTATION_DIR:-/tmp/seetrain-mutation}"
CHILDREN="${MUTATION_CHILDREN:-1}"   # parallel mutant workers (mutmut --max-children)
LIMIT="${MUTATION_TIMEOUT:-0}"       # seconds per module (0: no limit); unfinished mutants stay "not checked"
RESUME="${MUTATION_RESUME:-0}"       # 1: reuse $MUTATION_DIR/<name>/ as it is (mutmut keeps every verdict
                                     # it reached and runs only the mutants not checked yet)

declare -A SOURCES TESTS
SOURCES[records]="seetrain/rundir/records.py seetrain/rundir/writer.py"
TESTS[records]="tests/core/test_records.py tests/core/test_write_faults.py tests/core/test_crash_safety.py tests/core/test_batched_codec.py tests/core/test_records_contract.py tests/core/test_value_edges.py tests/core/test_writer_mutants.py tests/core/test_disk_stays_full.py"
SOURCES[ingest]="seetrain/server/ingest.py"
TESTS[ingest]="tests/server/test_ingest_batches.py tests/server/test_exactly_once_boundaries.py tests/server/test_hardening_ingest.py tests/server/test_ingest_mutants.py tests/server/test_shared_ingest.py tests/server/test_summary_pinned.py"
SOURCES[series]="seetrain/server/series.py"
TESTS[series]="tests/server/test_series.py tests/server/test_series_band.py tests/server/test_series_load.py tests/server/test_ingest_batches.py tests/server/test_shared_ingest.py tests/server/test_rewind_fork.py tests/server/test_series_mutants.py"
SOURCES[auth]="seetrain/server/auth.py"
TESTS[auth]="tests/server/test_auth.py tests/server/test_hardening_http.py::test_revoking_the_last_key_leaves_a_closed_server"
SOURCES[resilience]="seetrain/resilience.py"
TESTS[resilience]="tests/core/test_resilience.py tests/core/test_breaker_consecutive.py tests/core/test_resilience_contract.py"
SOURCES[lifecycle]="seetrain/lifecycle.py"
TESTS[lifecycle]="tests/core/test_exits.py tests/core/test_exit_code_boundaries.py tests/core/test_fork.py tests/core/test_lifecycle_contract.py tests/core/test_fork_after_first_log.py tests/core/test_shared_writers.py tests/core/test_lifecycle_mutants.py"
SOURCES[resume]="seetrain/train/resume.py"
TESTS[resume]="tests/train/test_resume_liveness.py tests/train/test_resume_rewind_steps.py"
ORDER=(ingest series auth resilience lifecycle resume records)
# Tests left out of a module's run (pytest -k), each for its cost; what only they would kill is
# listed in docs/testing.md. lifecycle: the Lightning SIGTERM test (30 s) reached by nearly every
# mutant; the framework-chaining path it checks is also checked by test_lifecycle_contract.py's
# test_a_forked_childs_run_ends_as_the_child_ends[handled-sigterm].
declare -A DESELECT
DESELECT[lifecycle]="not test_lightning_fit_receiving_sigterm_behaves_as_without_seetrain"
# ingest: every PostgreSQL test (each mutant's pytest session would start its own cluster; among them
# test_shared_ingest.py's two-worker resend race, 7 s and two servers, whose in-process counterpart is
# test_ingest_mutants.py's racing store) and the 13 s many-keys test reached by every mutant of the
# write path; the PostgreSQL-only lines and _parts' boundaries then need their own justification
# (docs/testing.md).
DESELECT[ingest]="not postgres and not many_keys"

"$PY" -c "import mutmut" 2>/dev/null || { echo "mutmut is not installed: pip install -e '.[dev]'" >&2; exit 2; }
MODS=("$@")
[ ${#MODS[@]} -gt 0 ] || MODS=("${ORDER[@]}")
for m in "${MODS[@]}"; do
    [ -n "${SOURCES[$m]:-}" ] || { echo "unknown module '$m'; one of: ${ORDER[*]}" >&2; exit 2; }
done

export KERAS_BACKEND=torch TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
# A mutant that makes a test hang (a writer thread that never ends, a wait that never wakes) sleeps:
# mutmut's own limit counts CPU seconds and never fires, and the suite's 300 s per test made each
# such mutant cost minutes. pytest-timeout's environment setting (above the ini, below a marker)
# fails it sooner; it changes no mutmut fingerprint, so a resumed run keeps its verdicts.
export PYTEST_TIMEOUT="${MUTATION_TEST_TIMEOUT:-60}"
# mutmut writes every mutant of a module into one file (ingest.py: 106,000 lines). With bytecode
# writing off (PYTHONDONTWRITEBYTECODE, set on some machines) each worker and each server child
# compiles it again: 3.2 s an import, measured on ingest, against 0.4 s from its .pyc.
unset PYTHONDONTWRITEBYTECODE

copy_checkout() {  # $1: destination (the working tree as it is, or $MUTATION_REF)
    mkdir -p "$1"
    if [ -n "${MUTATION_REF:-}" ]; then
        git -C "$ROOT" archive "$MUTATION_REF" | tar -x -C "$1"
    else
        (cd "$ROOT" && git ls-files -z -co --exclude-standard | xargs -0 tar -c --ignore-failed-read) | tar -x -C "$1"
    fi
}

write_child_support() {  # $1: folder put on every child's PYTHONPATH
    mkdir -p "$1"
    # Children (servers, scripts) inherit MUTANT_UNDER_TEST. While mutmut maps functions to tests
    # ("stats"), a child cannot reach the parent's table: it appends the functions it ran to a file.
    cat > "$1/sitecustomize.py" <<'PY'
import os

if os.environ.get("MUTANT_UNDER_TEST"):
    # The run writer's thread imports rundir.records on its first write-out; a program that forks
    # while that import runs hands its child a half-imported module whose lock no thread will ever
    # release (the child's writer then hangs at exit). Slowed down by the trampolines, the stats
    # run of test_fork.py::test_a_forked_child_can_start_its_own_run hits that window every time.
    # Imported here first, the verdicts do not depend on that race (see docs/testing.md).
    try:
        import seetrain.rundir.records  # noqa: F401
    except Exception:
        pass

if os.environ.get("MUTANT_UNDER_TEST") == "stats" and os.environ.get("SEETRAIN_MUTATION_HITS"):
    try:
        import mutmut.mutation.trampoline as _t

        _seen = set()

        def _hit(name, caller=None, _base=os.environ["SEETRAIN_MUTATION_HITS"]):
            # one small file per process, each function once: a test's child under a file size
            # limit (RLIMIT_FSIZE, a "full disk") must still be able to say what it ran
            path = f"{_base}.{os.getpid()}"
            if not os.path.exists(path):
                _seen.clear()  # the plugin took the file: the next test began (or a fork)
            if name in _seen:
                return
            try:
                with open(path, "a") as f:
                    f.write(name + "\n")
                _seen.add(name)
            except OSError:
                pass

        _t.record_trampoline_hit = _hit
    except Exception:
        pass
PY
    # ... and a pytest plugin in mutmut's process adds them to the running test's hits.
    cat > "$1/seetrain_mutation_hits.py" <<'PY'
import glob
import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    base = os.environ.get("SEETRAIN_MUTATION_HITS")
    if os.environ.get("MUTANT_UNDER_TEST") != "stats" or not base:
        return
    from mutmut.state import state

    names = set()
    for path in glob.glob(glob.escape(base) + ".*"):
        if path.endswith(".taken"):
            continue
        taken = path + ".taken"
        try:
            os.rename(path, taken)  # a child writing on creates a new file (and lists again)
        except OSError:
            continue
        with open(taken) as f:
            names.update(line.strip() for line in f if line.strip())
        os.unlink(taken)
    state()._stats.update(names)


# Fastest first: a mutant's tests stop at the first failure (-x), so a killed mutant costs the
# tests run before the one that kills it. mutmut passes them in no particular order and times
# only their call phase; a server-starting fixture can cost 2 s a test. The clean run at the start
# of every `mutmut run` (MUTANT_UNDER_TEST "") times each test whole (setup + call + teardown)
# into test-durations.json beside the hits file; each mutant's run then sorts its tests by that.
_durations = {}


def _durations_path():
    base = os.environ.get("SEETRAIN_MUTATION_HITS")
    return os.path.join(os.path.dirname(base), "test-durations.json") if base else None


def pytest_runtest_logreport(report):
    if os.environ.get("MUTANT_UNDER_TEST") == "":
        _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    path = _durations_path()
    if os.environ.get("MUTANT_UNDER_TEST") == "" and path and _durations:
        import json

        with open(path + ".tmp", "w") as f:
            json.dump(_durations, f, indent=0, sort_keys=True)
        os.replace(path + ".tmp", path)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    path = _durations_path()
    if "__mutmut_" not in mutant or not path or not os.path.exists(path):
        return
    import json

    with open(path) as f:
        known = json.load(f)
    slowest = max(known.values(), default=0.0)
    items.sort(key=lambda item: known.get(item.nodeid, slowest))  # stable: ties keep their order
PY
}

stop_leftovers() {  # $1: work folder; servers a stopped test left behind (they carry its marker)
    local pid
    for pid in $(grep -lsa "SEETRAIN_MUTATION_HITS=$1/" /proc/[0-9]*/environ | cut -d/ -f3); do
        [ "$pid" != "$$" ] && kill "$pid" 2>/dev/null || true
    done
}

summarise() {  # $1: module name, $2: its work folder -> result.txt
    (cd "$2" && "$PY" -m mutmut results --all true) > "$2/results-all.txt" 2>&1 || true
    "$PY" - "$1" "$2/results-all.txt" > "$2/result.txt" <<'PY'
import collections, re, sys

name, path = sys.argv[1:]
status = collections.Counter()
survivors = []
for line in open(path):
    m = re.match(r"\s+(\S+): (.+)$", line)
    if m:
        status[m.group(2)] += 1
        if m.group(2) != "killed":
            survivors.append(f"{m.group(1)}: {m.group(2)}")
total = sum(status.values())
print(f"{name}: killed {status['killed']}/{total}  " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
print("\n".join(survivors))
PY
    cat "$2/result.txt"
}

fresh_copy() {  # $1: work folder, $2: module name -> a new copy with its setup.cfg
    rm -rf "$1"
    copy_checkout "$1"
    write_child_support "$1/.mutation-support"
    {
        echo "[mutmut]"
        echo "source_paths = seetrain"
        echo "only_mutate ="
        for s in ${SOURCES[$2]}; do echo "    $s"; done
        echo "pytest_add_cli_args_test_selection ="
        for t in ${TESTS[$2]}; do echo "    $t"; done
        # each mutant's tests run in a process forked from a clean server, not from the one that
        # ran the stats: module state a test leaves behind (warn-once sets) cannot leak into it
        echo "process_isolation = forkserver"
        echo "pytest_add_cli_args ="
        echo "    -p"
        echo "    seetrain_mutation_hits"
        if [ -n "${DESELECT[$2]:-}" ]; then
            echo "    -k"
            echo "    ${DESELECT[$2]}"
        fi
    } > "$1/setup.cfg"
    if grep -q '^\[tool\.mutmut\]' "$1/pyproject.toml"; then
        echo "pyproject.toml has a [tool.mutmut] table: mutmut would ignore the per-module setup.cfg" >&2; exit 2
    fi
}

for m in "${MODS[@]}"; do
    work="$OUTDIR/$m"
    if [ "$RESUME" = 1 ] && [ -f "$work/setup.cfg" ] && [ -d "$work/mutants" ]; then
        # the copy, its setup.cfg and mutants/ stay as they were: a changed test selection or
        # source would make mutmut start over (or mix verdicts of two versions of the code)
        echo "== $m: resuming in $work (the copy is not refreshed from the checkout)"
    else
        fresh_copy "$work" "$m"
        echo "== $m: ${SOURCES[$m]}  (tests: ${TESTS[$m]})"
    fi
    # children import the mutated copy first, then the support folder (which must exist before
    # Python starts: a missing sys.path folder is cached as "nothing here")
    mkdir -p "$work/mutants"
    export PYTHONPATH="$work/mutants:$work/.mutation-support" SEETRAIN_MUTATION_HITS="$work/mutants/child-hits.txt"
    rc=0
    # MUTATION_MUTANTS: mutmut name patterns (e.g. 'seetrain.rundir.writer.xǁRunWriterǁ_merge__mutmut_*'):
    # only these are run (again)
    (cd "$work" && set -f && exec timeout -s INT -k 60 "$LIMIT" "$PY" -m mutmut run --max-children "$CHILDREN" ${MUTATION_MUTANTS:-}) \
        >> "$work/mutmut.log" 2>&1 || rc=$?
    stop_leftovers "$work"
    if [ "$rc" = 124 ]; then
        echo "$m: stopped after ${LIMIT}s (MUTATION_TIMEOUT); the mutants not run yet read 'not checked'" >&2
    elif [ "$rc" != 0 ]; then
        echo "mutmut failed for $m; see $work/mutmut.log" >&2; tail -20 "$work/mutmut.log" >&2; continue
    fi
    summarise "$m" "$work"
done

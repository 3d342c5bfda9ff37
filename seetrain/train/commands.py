"""``seetrain train`` and ``seetrain sweep`` (also ``python -m seetrain.train``)."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

TRAIN_USAGE = """seetrain train [CONFIG.yaml] [group=name ...] [key=value ...] [--from-run RUN] [--print-config]

  seetrain train                                     # small_cnn on digits (offline, about a minute)
  seetrain train model=resnet18 data=cifar10 trainer.max_epochs=3
  seetrain train experiment=apt_lm                   # the APT language model
  seetrain train --from-run RUN trainer.max_epochs=5 # train again from a recorded run's config

groups: model, data, trainer, logger, experiment (configs/<group>/<name>.yaml, or a path to a YAML file)
keys:   any key of the resolved config (see --print-config); +key=value adds a new one
env:    ${oc.env:NAME,default} in YAML values
"""


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, add_help=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--from-run", default=None, help="train again from this run's recorded config (dir, id or name)")
    p.add_argument("--logdir", default=None, help="where --from-run looks for runs")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--resume-from", type=int, default=None, metavar="STEP",
                   help="with trainer.resume=: the run's history goes back to STEP (default: the checkpoint's "
                        "step); what was logged after it is superseded, never deleted")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import your module (a dotted name from the current folder, or a .py file) first; "
                        "recorded in the run (repeatable)")
    return p


def _with_imports(config, specs):
    """``config`` with the modules of ``--import`` imported now and added to its ``imports`` list."""
    from .user_code import import_module, merged

    config["imports"] = merged(config.get("imports"), [import_module(s) for s in specs])
    return config


def _options_text() -> str:
    from .config import GROUPS, group_options
    from .registry import DATASETS, MODELS

    lines = [f"{g}: {', '.join(group_options(g))}" for g in GROUPS]
    lines.append(f"registered models: {', '.join(MODELS.names())}")
    lines.append(f"registered datasets: {', '.join(DATASETS.names())}")
    return "\n".join(lines)


def resume_command(prog: str, resume_from: str) -> str:
    """The exact command that goes on from ``resume_from``: the run's own config is restored from it."""
    import shlex

    return f"{prog} {shlex.quote('trainer.resume=' + resume_from)}"


def train_main(argv: Optional[Sequence[str]] = None, prog: str = "seetrain train") -> int:
    """Entry point of ``seetrain train``; returns the exit code (2 for a config error)."""
    from .errors import TrainConfigError, TrainingInterrupted

    args, rest = _parser(prog).parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if args.help:
        print(TRAIN_USAGE)
        print(_options_text())
        return 0
    if args.resume_from is not None:  # read where the resumed run is started (train/resume.py)
        import os

        from .resume import REWIND_ENV

        if args.resume_from < 0 or not any(a.startswith(("trainer.resume=", "+trainer.resume=")) for a in rest):
            print(f"{prog}: --resume-from {args.resume_from}: give a step >= 0 and the checkpoint to resume with "
                  "trainer.resume=CHECKPOINT", file=sys.stderr)
            return 2
        os.environ[REWIND_ENV] = str(args.resume_from)
    try:
        from .config import load_config

        base = None
        if args.from_run:
            from .reproduce import recorded_config

            recorded = recorded_config(args.from_run, args.logdir)
            base = recorded.config
            if recorded.note():
                print(f"{prog}: {recorded.note()}", file=sys.stderr)
        if args.imports:  # before the config: a YAML file may name the module's classes
            from .user_code import import_module

            for spec in args.imports:
                import_module(spec)
        config = _with_imports(load_config(rest, base), args.imports)
        if config["trainer"].get("resume") and base is None:  # the run's own config, plus what argv changes
            from .resume_config import config_for_resume

            config, changes = config_for_resume(rest, config, load_config)
            config = _with_imports(config, args.imports)
            given = [a for a in rest if not a.startswith(("trainer.resume=", "+trainer.resume="))]
            if given:  # recorded in the run: what really ran, for --from-run and for the reader of run.json
                config["resume_overrides"] = list(config.get("resume_overrides") or []) + [
                    {"checkpoint": str(config["trainer"]["resume"]), "overrides": given}]
            for line in changes.lines():
                print(f"{prog}: {line}", file=sys.stderr)
        if args.print_config:
            import yaml

            print(yaml.safe_dump(config, sort_keys=False), end="")
            return 0
        from .runner import plan

        backend, job, model = plan(config)
        result = backend.fit(job, model)  # its own config checks (Lightning's) come before the run is created
    except TrainConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C: a short note instead of a traceback; the shell's 128 + SIGINT
        note = "interrupted"
        if isinstance(exc, TrainingInterrupted):  # raised by the loop: it knows where training stood
            note += f" at step {exc.step}; the run is marked killed" + (
                f"; go on with: {resume_command(prog, exc.resume_from)}" if exc.resume_from
                else "; no checkpoint was saved yet")
        print(f"\n{prog}: {note}", file=sys.stderr)
        return 130
    if result.is_global_zero:
        print("\n" + result.summary())
    return 0


def _yaml_list(items) -> str:
    import json

    return json.dumps(items)  # a JSON list is a YAML flow sequence: one override value


def sweep_main(argv: Optional[Sequence[str]] = None, prog: str = "seetrain sweep") -> int:
    """Entry point of ``seetrain sweep``."""
    from .errors import TrainConfigError

    p = argparse.ArgumentParser(prog=prog, description="Hyper-parameter search with Optuna: "
                                "seetrain sweep hparams_search=NAME [key=value ...] [--storage URL]")
    p.add_argument("--storage", default=None, help="Optuna storage URL shared by workers: sqlite:///study.db or "
                   "postgresql://user:pass@host/db (default: in memory, this process only)")
    p.add_argument("--study-name", default=None, help="overrides hparams_search.study_name")
    p.add_argument("--n-trials", type=int, default=None, help="trials for this worker (overrides hparams_search.n_trials)")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import your module first (as for seetrain train); recorded in every trial's run")
    args, rest = p.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    bad = [a for a in rest if a.startswith("--")]
    if bad:
        p.error(f"unrecognized arguments: {' '.join(bad)}")
    try:
        from .sweep import run_sweep
        from .user_code import import_module

        imported = [import_module(s).record() for s in args.imports]
        if imported:  # every trial's config records them, so --from-run on a trial finds them again
            rest = list(rest) + [f"imports={_yaml_list(imported)}"]
        out = run_sweep(rest, storage=args.storage, study_name=args.study_name, n_trials=args.n_trials)
    except TrainConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    return 0 if out.get("best_value") is not None else 1

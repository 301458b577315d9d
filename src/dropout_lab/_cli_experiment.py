"""``dropout-lab experiment``: its flags, how they become an :class:`ExperimentConfig` (a study file's
settings, then the flags over them), and what it prints. The experiment itself is the library's
(:func:`~dropout_lab.experiments.run_experiment`)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._cli_args import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    UsageError,
    list_of,
    nonneg_int,
    one_of,
    positive_int,
    real,
    seed_count,
)
from .data import DATA_ENV_VAR, DATASETS
from .errors import DropoutLabError, InvalidArgumentError
from .experiments.config import ExperimentConfig
from .experiments.outdir import NewFolder
from .experiments.runner import default_jobs, run_experiment
from .experiments.scheduler import last_stop_signal
from .optim import UPDATE_RULES

#: The Dask scheduler's address when --scheduler is not given.
SCHEDULER_ENV_VAR = "DROPOUT_LAB_SCHEDULER"

EXPERIMENT_EXAMPLES = """\
examples:
  dropout-lab experiment                                  # the exercise's settings on the embedded digits
  dropout-lab experiment --seeds 5 --jobs 2 --out results/digits
  dropout-lab experiment --dataset cifar10 --data-dir ~/data/cifar-10-batches-py --seeds 3
  dropout-lab experiment --keep-probs 1,0.5 --hidden-dims 256,256 --epochs 10
  dropout-lab experiment --num-train 100,1000 --hidden-dims 64 512 --seeds 5   # a sweep: 2 x 2 cells
  dropout-lab experiment --config study.toml --out results/study              # a sweep written as a file
  dropout-lab experiment --resume results/digits          # continue an interrupted experiment
  dropout-lab experiment --resume results/digits --seeds 10 --epochs 50       # extend it
  dropout-lab experiment --seeds 5 --out results/digits --force  # replace that experiment
  dropout-lab experiment --config study.toml --out /shared/study --scheduler tcp://head:8786  # on Dask

A setting given several values (comma-separated; architectures separated by spaces) is swept: the
experiment is the cross product, and each cell compares its keep probabilities with its own keep 1.

Without --out each experiment gets a new folder, results/experiment-YYYYMMDD-HHMMSS. A new experiment
never writes into a folder that holds another experiment's files; --force replaces that experiment
(removing only the files dropout-lab wrote there). While an experiment runs its folder is locked: a
second process on it (a --resume included) is refused.

Keep probabilities are probabilities of KEEPING a unit (1 = no dropout), the opposite of PyTorch's p.
"""

DEFAULT_OUT = "results/experiment"  # a base name: each experiment gets DEFAULT_OUT-YYYYMMDD-HHMMSS


def _shown(value: Any) -> str:
    """A default as one would type it: lists comma-separated, numbers in their shortest form."""
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _default(name: str, *, none: str = "none") -> str:
    """ExperimentConfig's default for the setting ``name``, as the help shows it (``none`` for None),
    read from the config itself so that the help never disagrees with it."""
    [field] = [f for f in dataclasses.fields(ExperimentConfig) if f.name == name]
    return none if field.default is None else _shown(field.default)


def _name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a name, got {text!r}")
    return text.strip()


def add_experiment_parser(sub: Any) -> None:
    """The ``experiment`` command's parser, on the subparsers ``sub``."""
    exp = sub.add_parser(
        "experiment",
        help="train the same net at several keep probabilities and compare them",
        description="Train the same net at several dropout keep probabilities (and seeds, and the values "
        "of any swept setting), write results.json and accuracy.png, and print a summary with confidence "
        "intervals per cell.",
        epilog=EXPERIMENT_EXAMPLES,
        # Wide enough that "--hidden-dims LIST [LIST ...]" keeps its help on its own line.
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, max_help_position=36),
    )
    some = "comma-separated values sweep it"
    exp.add_argument("--config", metavar="FILE", help="a study file (TOML) of settings; flags given beside it win")
    exp.add_argument("--keep-probs", type=list_of(float, "keep probabilities"), metavar="LIST",
                     help=f"comma-separated keep probabilities (default {_default('keep_probs')})")
    exp.add_argument("--hidden-dims", type=list_of(int, "layer sizes"), nargs="+", metavar="LIST",
                     help=f"comma-separated hidden layer sizes; several architectures (space-separated) sweep "
                     f"them (default {_default('hidden_dims')})")
    exp.add_argument("--num-train", type=list_of(positive_int, "training set sizes"), metavar="N",
                     help=f"training examples; {some} (default {_default('num_train')})")
    exp.add_argument("--num-val", type=positive_int, metavar="N",
                     help=f"validation examples (default {_default('num_val', none='all')})")
    exp.add_argument("--epochs", type=list_of(positive_int, "epoch counts"), metavar="N",
                     help=f"epochs; {some} (default {_default('epochs')})")
    exp.add_argument("--steps", type=list_of(positive_int, "update counts"), metavar="N",
                     help="the budget in updates instead of epochs (the last epoch may be partial); "
                     f"{some} (default: --epochs)")
    exp.add_argument("--eval-every", type=positive_int, metavar="K",
                     help="measure the accuracies every K epochs and after the last "
                     f"(default {_default('eval_every')})")
    exp.add_argument("--num-val-samples", type=positive_int, metavar="N",
                     help="validation examples drawn for each measurement (default: all)")
    exp.add_argument("--batch-size", type=list_of(positive_int, "batch sizes"), metavar="N",
                     help=f"minibatch size; {some} (default {_default('batch_size')})")
    exp.add_argument("--update-rule", type=list_of(_name, "update rules"), metavar="NAME",
                     help=f"{one_of(UPDATE_RULES)}; {some} (default {_default('update_rule')})")
    exp.add_argument("--lr", type=list_of(real, "learning rates"), metavar="X",
                     help=f"learning rate; {some} (default {_default('learning_rate')})")
    exp.add_argument("--momentum", type=list_of(real, "momenta"), metavar="M",
                     help=f"the (final) momentum of sgd_momentum, in [0, 1); {some} (default: the rule's 0.9)")
    exp.add_argument("--lr-decay", type=list_of(real, "decay factors"), metavar="X",
                     help=f"multiply the learning rate by X after each epoch, X in (0, 1]; {some} "
                     f"(default {_default('lr_decay')})")
    exp.add_argument("--momentum-schedule", type=list_of(_name, "schedules"), metavar="S",
                     help="constant or linear:START:EPOCHS (sgd_momentum's momentum rises from START to --momentum "
                     f"over the first EPOCHS epochs); {some} (default {_default('momentum_schedule')})")
    exp.add_argument("--weight-scale", type=list_of(real, "weight scales"), metavar="X",
                     help=f"initial weight std; {some} (default {_default('weight_scale')})")
    exp.add_argument("--reg", type=list_of(real, "L2 strengths"), metavar="X",
                     help=f"L2 strength; {some} (default {_default('reg')})")
    exp.add_argument("--input-keep-prob", type=list_of(real, "keep probabilities"), metavar="P",
                     help=f"probability of keeping each input value; {some} "
                     f"(default {_default('input_keep_prob')})")
    exp.add_argument("--variant", type=list_of(_name, "dropout kinds"), metavar="KIND",
                     help="bernoulli (the exercise's), gaussian, dropconnect or alpha (with --activation selu); "
                     f"{some} (default {_default('dropout_kind')})")
    exp.add_argument("--init", type=list_of(_name, "initializations"), metavar="NAME",
                     help=f"initial weights: normal (--weight-scale times N(0, 1)), lecun or he (N(0, 2 / fan-in)); "
                     f"{some} (default: the activation's, normal for relu)")
    exp.add_argument("--activation", type=list_of(_name, "activations"), metavar="NAME",
                     help=f"relu or selu (LeCun-normal initial weights unless --init says otherwise); {some} (default "
                     f"{_default('activation')})")
    exp.add_argument("--max-norm", type=list_of(real, "norm bounds"), metavar="C",
                     help=f"bound each hidden unit's incoming weight vector to norm C after every update; {some} "
                     "(default: none)")
    exp.add_argument("--keep-schedule", type=list_of(_name, "schedules"), metavar="S",
                     help="constant, linear:RAMP or curriculum:GAMMA (in steps; add :epoch for epochs), how the keep "
                     f"probabilities move from 1 to their values; {some} (default {_default('keep_schedule')})")
    exp.add_argument("--early-stopping", type=list_of(positive_int, "patiences"), metavar="K",
                     help=f"early stopping: end a run after K measured epochs without a better val acc; {some} "
                     "(default: none)")
    exp.add_argument("--mc-samples", type=nonneg_int, metavar="K",
                     help="evaluate each run on the test split by weight scaling and by the average of K Monte "
                     "Carlo dropout passes: accuracy, NLL, Brier score, ECE (default 0: no test evaluation)")
    exp.add_argument("--dtype", metavar="NAME", help=f"float32 or float64 (default {_default('dtype')})")
    exp.add_argument("--dataset", type=list_of(_name, "data set names"), metavar="NAME",
                     help=f"{one_of(DATASETS)}; {some} (default {_default('dataset')}; digits is embedded)")
    exp.add_argument("--data-dir", metavar="DIR",
                     help=f"the data folder (default {_default('data_dir', none=f'${DATA_ENV_VAR} or the cache')})")
    seeds = exp.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=seed_count, metavar="K",
                       help=f"run seeds 0..K-1 (default: seeds {_default('seeds')})")
    seeds.add_argument("--seed", type=nonneg_int, metavar="S", help="run the single seed S")
    exp.add_argument("--jobs", type=positive_int, metavar="N",
                     help="threads that train the runs, an epoch at a time in turn (default: the cores this process "
                     f"may use over --threads-per-run, {default_jobs(1)} here at 1 thread a run; the best choice)")
    exp.add_argument("--threads-per-run", type=positive_int, metavar="N",
                     help=f"BLAS threads of each run, whatever --jobs is (default {_default('threads_per_run')}; a "
                     "run's numbers depend on it, never on --jobs)")
    exp.add_argument("--scheduler", metavar="ADDRESS",
                     help="a Dask scheduler (tcp://HOST:PORT) to send each run to as a task (default "
                     f"${SCHEDULER_ENV_VAR}, else this process); --out must be a folder the workers reach at the "
                     "same path")
    exp.add_argument("--out", metavar="DIR",
                     help=f"output folder (default: a new one, {DEFAULT_OUT}-YYYYMMDD-HHMMSS)")
    exp.add_argument("--force", action="store_true",
                     help="replace the experiment in --out (only the files dropout-lab wrote are removed)")
    exp.add_argument("--resume", metavar="DIR",
                     help="continue the interrupted experiment in DIR; with settings, extend it (more seeds, keep "
                     "probabilities, values of a swept setting, or epochs)")
    exp.add_argument("--quiet", action="store_true", help="no progress bar")


_CONFIG_OPTIONS = {
    "keep_probs": "keep_probs", "hidden_dims": "hidden_dims", "num_train": "num_train", "num_val": "num_val",
    "epochs": "epochs", "batch_size": "batch_size", "update_rule": "update_rule", "lr": "learning_rate",
    "weight_scale": "weight_scale", "reg": "reg", "dtype": "dtype", "dataset": "dataset", "data_dir": "data_dir",
    "threads_per_run": "threads_per_run", "steps": "steps", "eval_every": "eval_every",
    "num_val_samples": "num_val_samples", "input_keep_prob": "input_keep_prob", "max_norm": "max_norm",
    "keep_schedule": "keep_schedule", "early_stopping": "patience", "mc_samples": "mc_samples",
    "variant": "dropout_kind", "activation": "activation", "momentum": "momentum", "lr_decay": "lr_decay",
    "momentum_schedule": "momentum_schedule", "init": "init",
}

# Each config field's flag: its argparse dest with dashes, as argparse made the dest (test_cli checks them).
FIELD_FLAGS = {field: "--" + option.replace("_", "-") for option, field in _CONFIG_OPTIONS.items()}
_LEADING_FIELD = re.compile(r"(?P<field>[a-z_]+)(?:\[(?P<index>\d+)\])?(?![\w\[])")
# "sweep num_train[1]: num_train must ...", "sweep hidden_dims[1]: hidden_dims[0] must ...", "sweep lr must ..."
_SWEPT_VALUE = re.compile(
    r"sweep (?P<field>[a-z_]+)(?:\[(?P<index>\d+)\]: (?P=field)(?:\[(?P<inner>\d+)\])?)?(?![\w\[])"
)


@contextlib.contextmanager
def _errors_name_flags(args: argparse.Namespace) -> Iterator[None]:
    """A library error raised inside this block that starts with a config field (``learning_rate must
    be ...``, ``keep_probs[1] ...``, ``sweep num_train[1]: num_train ...``) names the flag the user
    typed instead (``--lr must be ...``, ``--keep-probs item 2 ...``, ``--num-train item 2 ...``): the
    one line on stderr then speaks the command line's language."""
    try:
        yield
    except DropoutLabError as exc:
        if len(exc.args) != 1:  # an OSError's (errno, text): not a message to rewrite
            raise
        text = str(exc)
        flags = {**FIELD_FLAGS, "seeds": "--seed" if args.seed is not None else "--seeds"}
        swept = _SWEPT_VALUE.match(text)
        if swept is not None and swept["field"] in flags:
            named = flags[swept["field"]]
            if swept["index"] is not None:
                named += f" item {int(swept['index']) + 1}"
            if swept["inner"] is not None:  # a layer of an architecture
                named += f", layer {int(swept['inner']) + 1}"
            text = named + text[swept.end() :]
        match = _LEADING_FIELD.match(text)
        if match is not None and match["field"] in flags:
            named = flags[match["field"]]
            if match["index"] is not None and match["field"] != "seeds":  # --seed is one value; --seeds K can't fail
                named += f" item {int(match['index']) + 1}"
            text = named + text[match.end() :]
        # Sizes quoted in parentheses (the memory estimate's "(batch_size 100)"), and the data folder.
        for field, flag in flags.items():
            text = text.replace(f"({field} ", f"({flag} ")
        exc.args = (text.replace("pass root= (or set", "pass --data-dir (or set"),)
        raise


def _given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags give, in :meth:`ExperimentConfig.from_settings`'s shorthand."""
    settings: dict[str, Any] = {}
    for option, field in _CONFIG_OPTIONS.items():
        value = getattr(args, option)
        if value is None:
            continue
        if field == "hidden_dims":
            value = [list(v) for v in value]  # one architecture per word
        elif isinstance(value, tuple) and field != "keep_probs":
            value = list(value)  # one value, or several to sweep
        settings[field] = value
    if args.seeds is not None:
        settings["seeds"] = args.seeds
    elif args.seed is not None:
        settings["seeds"] = [args.seed]
    return settings


def _finished_before(folder: Path) -> bool:
    """Whether results.json in ``folder`` says its experiment is complete (diverged runs are trained
    again on a resume; a damaged file is run_experiment's to report)."""
    from .experiments.results import read_results

    with contextlib.suppress(DropoutLabError, OSError):
        return read_results(folder).get("status") == "complete"
    return False


def _table_notes(config: ExperimentConfig) -> list[str]:
    """What the summary table leaves out, and how to get it."""
    one_seed = "one seed: run with --seeds K (K >= 2, say --seeds 5) for confidence intervals and a verdict"
    no_keep_1 = ("no keep probability 1 (no dropout) in --keep-probs: the columns that compare with it are "
                 "missing; add 1 to the list to get them")  # fmt: skip
    return [one_seed] * (len(config.seeds) == 1) + [no_keep_1] * (1.0 not in config.keep_probs)


def _config_of(args: argparse.Namespace, settings: dict[str, Any]) -> ExperimentConfig | None:
    """The config the flags (and --config's file) describe; None for a plain resume."""
    if args.config is not None:
        from .experiments.study import load_study

        return load_study(args.config, **settings)
    if args.resume is not None:
        if not settings:
            return None
        from .experiments.extend import extended_config
        from .experiments.results import parse_results, read_results

        folder = Path(args.resume)
        saved, _ = parse_results(read_results(folder), folder / "results.json")
        return extended_config(saved, settings)
    return ExperimentConfig.from_settings(settings)


def run_experiment_command(args: argparse.Namespace) -> int:
    """``dropout-lab experiment``: the flags to a config, the experiment, the tables and notes."""
    from .experiments import format_summary_table
    from .experiments.grid import cell_label

    given = (
        ("--resume", args.resume, "folder"), ("--out", args.out, "folder"), ("--config", args.config, "file"),
        ("--scheduler", args.scheduler, "Dask scheduler's address (tcp://HOST:PORT)"),
    )  # fmt: skip
    for option, value, what in given:
        if value is not None and not value.strip():
            raise UsageError(f"dropout-lab experiment: argument {option}: expected a {what}, got {value!r}")
    scheduler = args.scheduler if args.scheduler is not None else os.environ.get(SCHEDULER_ENV_VAR) or None
    progress = False if args.quiet else None  # None: a bar only when stderr is a terminal
    settings = _given_settings(args)
    if args.resume is not None:
        other = [name for name, used in (("--out", args.out is not None), ("--force", args.force)) if used]
        if other:
            raise InvalidArgumentError(f"--resume continues the experiment in its own folder; drop {', '.join(other)}")
        if args.config is not None:
            raise InvalidArgumentError("--resume reads the experiment's settings from its folder; drop --config "
                                       "(give the settings to add as flags)")
        finished = _finished_before(Path(args.resume)) and not settings
        with _errors_name_flags(args):
            config = _config_of(args, settings)
            results = run_experiment(
                config, out_dir=args.resume, jobs=args.jobs, progress=progress, resume=True, scheduler=scheduler
            )
        if finished:
            print(f"nothing to do: every run in {args.resume} was complete already\n")
    else:
        out_dir = NewFolder(DEFAULT_OUT) if args.out is None else Path(args.out)
        with _errors_name_flags(args):  # the config comes from the flags: its errors name them
            config = _config_of(args, settings)
            results = run_experiment(
                config, out_dir=out_dir, jobs=args.jobs, progress=progress, force=args.force, scheduler=scheduler
            )
    # The folder the results went to (the one chosen when --out was not given).
    out = results.out_dir if results.out_dir is not None else Path(args.resume or args.out)

    from .experiments.evaluation import format_test_table
    from .experiments.summary_plot import figure_title

    print(f"settings: {figure_title(results.config)}\n")
    cells = results.cell_summaries
    for settings_of_cell, summary in cells:
        if len(cells) > 1:
            print(f"{cell_label(settings_of_cell)}:")
        print(format_summary_table(summary))
        tests = format_test_table([r for r in results.runs if r.settings == settings_of_cell])
        if tests:
            print("\n" + tests)
        if len(cells) > 1:
            print()
    for note in _table_notes(results.config):
        print(note)
    # The figure shows completed runs only: none is drawn while interrupted or when every run diverged.
    plotted = results.status != "interrupted" and any(run.status == "complete" for run in results.runs)
    print(f"\nwrote {out / 'results.json'}" + (f", {out / 'accuracy.png'} and {out / 'summary.png'}" * plotted))
    if results.status == "interrupted":
        print(f"dropout-lab: interrupted; continue with: dropout-lab experiment --resume {out}", file=sys.stderr)
        return EXIT_TERMINATED if last_stop_signal() == signal.SIGTERM else EXIT_INTERRUPTED
    if results.status == "diverged":
        for run in results.runs:
            if run.status == "diverged":
                print(f"dropout-lab: {run.label}: {run.message}", file=sys.stderr)
        return EXIT_DIVERGED
    return EXIT_OK

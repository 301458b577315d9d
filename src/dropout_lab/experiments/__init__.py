"""The dropout regularization experiment: configuration (a grid of settings), runner, statistics and plots."""

from .config import ExperimentConfig
from .extend import extended_config
from .grid import RunSpec
from .plot import plot_accuracy
from .results import ExperimentResults, RunResult, read_results
from .runner import load_experiment_data, run_experiment, run_one
from .stats import (
    Interval,
    KeepProbSummary,
    mean_ci,
    paired_difference,
    summarize,
    summary_to_dict,
    verdict,
)
from .study import load_study
from .table import format_summary_table

__all__ = [
    "ExperimentConfig",
    "ExperimentResults",
    "Interval",
    "KeepProbSummary",
    "RunResult",
    "RunSpec",
    "extended_config",
    "format_summary_table",
    "load_experiment_data",
    "load_study",
    "mean_ci",
    "paired_difference",
    "plot_accuracy",
    "read_results",
    "run_experiment",
    "run_one",
    "summarize",
    "summary_to_dict",
    "verdict",
]

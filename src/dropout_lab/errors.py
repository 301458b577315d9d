"""The exceptions dropout-lab raises on purpose.

Every error a user can cause derives from :class:`DropoutLabError`, and also from the built-in type a
caller would catch without knowing this library (``ValueError``, ``TypeError``, ``OSError``), so
``except ValueError`` keeps working. The command line turns any ``DropoutLabError`` into one line on
stderr and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "DropoutLabError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "DataError",
    "CheckpointError",
    "TrainingDivergedError",
]


class DropoutLabError(Exception):
    """Base class of every error dropout-lab raises for bad input, bad files or failed training."""


class InvalidArgumentError(DropoutLabError, ValueError):
    """An argument has the right type but a value that cannot work (a shape, a range, a name)."""


class InvalidTypeError(DropoutLabError, TypeError):
    """An argument has a type that cannot work (a list where an array is needed, an integer dtype)."""


class DataError(DropoutLabError, OSError):
    """A data set is missing, unreadable, truncated, malformed or refused as unsafe."""


class CheckpointError(DropoutLabError, ValueError):
    """A checkpoint is corrupt, unsafe, or does not fit the model it is loaded into."""


class TrainingDivergedError(DropoutLabError, ArithmeticError):
    """The loss or a gradient became NaN or infinite during training."""

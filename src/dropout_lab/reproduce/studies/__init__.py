"""The studies of ``dropout-lab reproduce``, one module each, in the order they are listed."""

from __future__ import annotations

from ..base import Study
from . import (
    fig8_sparsity,
    fig9_dropout_rate,
    fig10_dataset_size,
    fig11_mc_averaging,
    gaussian_dropout,
    table9_regularizers,
)

#: name -> study, in the order ``dropout-lab reproduce`` lists them.
STUDIES: dict[str, Study] = {
    module.STUDY.name: module.STUDY
    for module in (
        fig9_dropout_rate, fig10_dataset_size, fig11_mc_averaging, table9_regularizers, fig8_sparsity,
        gaussian_dropout,
    )
}  # fmt: skip

__all__ = ["STUDIES"]

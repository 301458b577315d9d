"""``dropout-lab reproduce``: the MNIST results of Srivastava et al. (2014), "Dropout: A Simple Way to
Prevent Neural Networks from Overfitting", remade as sweeps of the dropout experiment, each with a
report that puts the paper's values beside ours and says, claim by claim, what reproduced.

    from dropout_lab.reproduce import STUDIES, run_study
    report = run_study("fig11-mc-averaging", "small", out_dir="results/fig11", jobs=2)
    print(report.out_dir / "report.md")
"""

from .base import SCALES, Claim, Findings, Part, Study
from .run import StudyReport, default_out_dir, plan, run_study, study
from .studies import STUDIES

__all__ = [
    "SCALES", "STUDIES", "Claim", "Findings", "Part", "Study", "StudyReport", "default_out_dir", "plan", "run_study",
    "study",
]  # fmt: skip

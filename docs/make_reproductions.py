"""Build docs/reproductions.md from the folders ``dropout-lab reproduce`` wrote: each study's report (its
headings one level down, its figures copied to docs/reproductions/STUDY/), after a summary of every verdict.

    python docs/make_reproductions.py results            # reads results/reproduce-STUDY-small/
    python docs/make_reproductions.py /work/runs/reproduce --layout flat   # reads DIR/STUDY/
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from dropout_lab.reproduce import STUDIES

DOCS = Path(__file__).resolve().parent
INTRO = """# Reproducing Srivastava et al. (2014) at small scale

Every study of `dropout-lab reproduce` as measured on the development machine (2 cores, `--jobs 2`, MNIST
from `../shared/data/mnist`), at the small scale: each report below is the `report.md` the command wrote,
unedited but for its headings. The settings were chosen from the paper before the runs and adjusted once
after a first run, never on a claim's outcome: He's initial weights, because the paper's N(0, 0.01²) left
the narrow nets of Figure 9 untrained, and Figure 9's widths and keep probabilities, to fit in 15 minutes.
A claim that did not reproduce is reported as such, with what we think explains it.

To make them again (each command resumes where it stopped; `--scale paper` is the paper's nets and
update counts, for a Dask cluster):

    dropout-lab data download mnist            # or --data-dir DIR where the four idx files lie
    dropout-lab reproduce STUDY --jobs 2       # writes results/reproduce-STUDY-small/report.md
    python docs/make_reproductions.py results  # rebuilds this page from those folders
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="the folder that holds the studies' folders")
    parser.add_argument("--layout", choices=["default", "flat"], default="default",
                        help="default: ROOT/reproduce-STUDY-small; flat: ROOT/STUDY")  # fmt: skip
    args = parser.parse_args()
    summary = ["| study | in the paper | claims reproduced | runs | wall time |", "|---|---|---|---|---|"]
    sections = []
    for name, study in STUDIES.items():
        folder = args.root / (name if args.layout == "flat" else f"reproduce-{name}-small")
        text = (folder / "report.md").read_text(encoding="utf-8")
        claims = json.loads((folder / "measures.json").read_text(encoding="utf-8"))["claims"]
        target = DOCS / "reproductions" / name
        target.mkdir(parents=True, exist_ok=True)
        for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
            shutil.copyfile(folder / image, target / image)
            text = text.replace(f"]({image})", f"](reproductions/{name}/{image})")
        text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
        runs = re.search(r"^\| runs \| (\d+)", text, flags=re.MULTILINE)
        wall = re.search(r"^\| wall time \| ([^;|]+)", text, flags=re.MULTILINE)
        done = sum(c["reproduced"] is True for c in claims)
        summary.append(f"| [{name}](#{_anchor(text)}) | {study.source} | {done} of {len(claims)} | "
                       f"{runs.group(1) if runs else '?'} | {wall.group(1).strip() if wall else '?'} |")  # fmt: skip
        sections.append(text)
    page = "\n".join([INTRO, "## The verdicts", "", *summary, "", *sections])
    (DOCS / "reproductions.md").write_text(page, encoding="utf-8")


def _anchor(text: str) -> str:
    title = text.splitlines()[0].lstrip("#").strip().lower()
    return re.sub(r"[^a-z0-9 -]", "", title).replace(" ", "-")


if __name__ == "__main__":
    main()

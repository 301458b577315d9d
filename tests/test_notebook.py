"""examples/dropout.ipynb runs headless from top to bottom, and says what it should."""

from __future__ import annotations

import re

import nbformat
from nbclient import NotebookClient

from .conftest import REPO_ROOT


def test_notebook_executes_headless(tmp_path):
    notebook = nbformat.read(REPO_ROOT / "examples" / "dropout.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            assert output.output_type != "error", output
            outputs.append(output.get("text", "") or str(output.get("data", {}).get("text/plain", "")))
    text = "\n".join(outputs)
    # The course's statistics line for p = 0.25 and the dropout gradient check.
    assert "train mean 10.0141" in text
    match = re.search(r"dx relative error: ([0-9.e+-]+)", text)
    assert match and float(match.group(1)) < 1e-9
    assert "initial loss 2.300479" in text
    assert "val acc vs keep 1" in text
    assert (tmp_path / "dropout-notebook-results" / "accuracy.png").is_file()

"""``docs/notebook.ipynb`` runs from top to bottom, so the Python API's tour cannot go stale.

It is executed with nbclient in a kernel of this interpreter (a kernelspec
written to a temporary folder, found through ``JUPYTER_PATH``), with this
interpreter's ``sys.path``; the notebook starts the local test server
itself, so it is offline and takes seconds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("pandas")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebook.ipynb"
KERNEL = "ftdecide-test"


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernelspec running ``sys.executable`` (the project's venv) with this ``sys.path``."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ftdecide (test)", "language": "python",
        "env": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config or store is touched
    monkeypatch.setenv("FTDECIDE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("FTDECIDE_CACHE_DIR", str(tmp_path / "cache"))
    return KERNEL


def _outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        for value in (out.get("data") or {}).values():
            parts.append(value if isinstance(value, str) else json.dumps(value))
    return "\n".join(parts)


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_the_notebook_runs_from_top_to_bottom(kernel, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name=kernel,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = {i: _outputs(c) for i, c in enumerate(code)}
    source = {i: c.source for i, c in enumerate(code)}

    def output_of(fragment: str) -> str:
        return next(text[i] for i in text if fragment in source[i])

    assert "local server at http://127.0.0.1:" in output_of("OpenAICompatibleServer")
    assert "valid" in output_of("ftdecide.validate(") and 'class="ftdecide"' in \
        output_of("ftdecide.validate(")  # the rich display, not only the repr
    assert "training cost" in output_of("ftdecide.estimate(")
    assert "succeeded" in output_of("ftdecide.tune(")
    run_html = output_of("run = ftdecide.compare(")
    assert 'class="arms"' in run_html and "fine-tuned" in run_html
    assert "finetuned" in output_of("arms = run.arms()")
    assert "input_tokens" in output_of("items = run.items()")
    recommendation = output_of("print(assessment.recommendation")
    assert recommendation.split()[0] in {"fine-tune", "try-rag", "try-prompting", "measure-first",
                                         "collect-data", "keep-baseline", "not-tunable"}

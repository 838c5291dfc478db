"""notebooks/walkthrough.ipynb: committed clean, and it runs from top to bottom.

The notebook is executed headlessly with nbclient on the synthetic digits (one
epoch), in a kernel that runs this very interpreter, so it sees this digitnet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from nbclient.exceptions import CellExecutionError  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "walkthrough.ipynb"
KERNEL = "digitnet-test-python"
CELL_TIMEOUT = 300


@pytest.fixture
def notebook_env(tmp_path, monkeypatch, idx_dir):
    """Small, fast parameters and a kernel spec for the interpreter running the tests."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "digitnet tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("DIGITNET_EPOCHS", "1")
    monkeypatch.setenv("DIGITNET_SUBSET", "300")
    monkeypatch.setenv("DIGITNET_DATA", str(idx_dir))
    return tmp_path


def execute(nb, workdir):
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return nb


def read_notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def outputs_of(nb):
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def text_of(output) -> str:
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return data.get("text/markdown", "") + data.get("text/plain", "") + data.get("text/html", "")


def test_committed_notebook_is_valid_and_has_no_outputs():
    nb = read_notebook()
    nbformat.validate(nb)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], f"cell with outputs: {cell.source[:60]!r}"
        assert cell.execution_count is None, f"cell with an execution count: {cell.source[:60]!r}"
    assert nb.metadata.kernelspec.name == "python3"


def test_notebook_uses_digitnets_own_functions():
    source = "\n".join(cell.source for cell in read_notebook().cells if cell.cell_type == "code")
    for name in (
        "load_dataset(",
        "to_model_input(",
        "build_model(",
        "compile_model(",
        "train_model(",
        "evaluate_model(",
        "predict_probabilities(",
        "prepare_image(",
        "plots.history_figure(",
        "plots.confusion_figure(",
        "plots.digit_figure(",
        "augment_batch(",
        "plots.before_after_figure(",
    ):
        assert name in source, name
    assert 'arch="mlp"' in source and 'arch="linear"' in source
    for env in ("DIGITNET_EPOCHS", "DIGITNET_SUBSET", "DIGITNET_DATA"):
        assert env in source


def test_notebook_runs_top_to_bottom(notebook_env):
    nb = execute(read_notebook(), notebook_env)
    outputs = outputs_of(nb)
    text = "\n".join(text_of(output) for output in outputs)
    assert not [o for o in outputs if o.output_type == "error"]
    assert "epochs: 1, training images: 300" in text
    assert "test accuracy" in text
    assert "`mlp`" in text and "`linear`" in text  # the comparison table
    assert "the network says" in text  # the drawn digit was predicted
    assert "mlp.keras answers through LiteRT" in text  # asked through the runtime, as the commands ask
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    # samples, curves, confusion, mistakes, one test digit, the drawing, its prediction, linear's confusion
    assert len(pictures) >= 8


def test_a_broken_cell_makes_execution_fail(notebook_env):
    nb = read_notebook()
    loading = next(cell for cell in nb.cells if cell.cell_type == "code" and "load_dataset(DATA)" in cell.source)
    loading.source = loading.source.replace("load_dataset(DATA)", "load_datset(DATA)")
    with pytest.raises(CellExecutionError, match="load_datset"):
        execute(nb, notebook_env)

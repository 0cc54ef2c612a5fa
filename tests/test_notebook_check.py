"""grader.check() inside a real Jupyter kernel (ipykernel, run by nbclient): the code the kernel ran is graded,
unsaved redefinitions included; and the release's starter notebook checks each function in place."""

from __future__ import annotations

import json
import sys

import nbformat
import pytest

from grader import kernel_source, starter_notebook
from grader.release import write_bundle
from tests.conftest import ROOT

nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNEL = "autograde-test-python"
MARK = "AUTOGRADE-RESULT "
SUM_LOSS = "def loss_fn(y_pred, y):\n    return torch.square(y_pred - y).sum()\n"
MEAN_LOSS = "def loss_fn(y_pred, y):\n    return torch.square(y_pred - y).mean()\n"
ITEM_LOSS = "def loss_fn(y_pred, y):\n    return torch.tensor(torch.square(y_pred - y).mean().item())\n"
HOSTILE = 'def detached(a):\n    raise ValueError("<script>alert(1)</script>")\n'


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel spec running this interpreter, with Jupyter's and IPython's files kept out of the user's home."""
    home = tmp_path_factory.mktemp("jupyter-home")
    spec = home / "data" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "autograde test", "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        for variable, folder in {"JUPYTER_PATH": "data", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
                                 "JUPYTER_CONFIG_DIR": "config", "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "mpl"}.items():
            patch.setenv(variable, str(home / folder))
        yield KERNEL


def execute(notebook, folder, kernel_name: str):
    """Run every cell of ``notebook`` in a fresh kernel whose working folder is ``folder``."""
    client = nbclient.NotebookClient(notebook, kernel_name=kernel_name, timeout=180,
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


def outputs(cell) -> tuple[list[dict], str, str]:
    """The results a check cell printed (``MARK`` lines), its HTML and its plain text."""
    printed = "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")
    marked = [json.loads(line[len(MARK):]) for line in printed.splitlines() if line.startswith(MARK)]
    shown = [output.data for output in cell.outputs if output.output_type == "execute_result"]
    return marked, "".join(data.get("text/html", "") for data in shown), "".join(data.get("text/plain", "") for data in shown)


def checked(call: str) -> str:
    """A cell that checks, prints the result as data, and shows it (its last expression)."""
    return (f"result = {call}\nprint({MARK!r} + json.dumps({{'score': result.score, 'max': result.max_score, "
            f"'tests': [[t.function, t.status, t.mistake] for t in result.tests]}}))\nresult")


def code(source: str):
    return nbformat.v4.new_code_cell(source)


def test_grades_what_the_kernel_ran_including_unsaved_redefinitions(kernel, course):
    solutions = []
    for module in dict.fromkeys(spec.module for spec in course.functions):
        text = (course.solutions / f"{module}.py").read_text(encoding="utf-8")
        cells = starter_notebook.cells(text, module, {p.stem for p in course.solutions.glob("*.py")}, set())
        solutions += [code(source) for kind, source in cells if kind == "code"]
    steps = {"everything": checked("grader.check()"), "redefined": SUM_LOSS, "wrong": checked('grader.check("loss_fn")'),
             "fixed": MEAN_LOSS, "magic": "%autograde loss_fn", "hostile": HOSTILE,
             "hostile check": checked('grader.check("detached")'), "cut": ITEM_LOSS, "cut check": 'grader.check("loss_fn")'}
    notebook = nbformat.v4.new_notebook(cells=[code("import json\nimport grader"), *solutions, *map(code, steps.values())])
    execute(notebook, ROOT, kernel)
    cells = dict(zip(steps, notebook.cells[-len(steps):]))
    everything, wrong, fixed, hostile = cells["everything"], cells["wrong"], cells["magic"], cells["hostile check"]
    redefined = len(notebook.cells) - len(steps) + 2  # its execution count: In [N]

    (result,), page, text = outputs(everything)
    assert result["score"] == result["max"] == course.max_score, [t for t in result["tests"] if t[1] != "pass"]
    assert len(result["tests"]) == sum(len(spec.checks) for spec in course.functions)
    assert "PASS" in page and f"{course.max_score:g} / {course.max_score:g} points" in page and "FAIL" not in page
    assert f"Total: {course.max_score:g} / {course.max_score:g} points" in text

    (result,), page, text = outputs(wrong)
    assert {function for function, _, _ in result["tests"]} == {"loss_fn"}
    assert result["score"] < result["max"]
    assert ["loss_fn", "fail", "sum-instead-of-mean"] in result["tests"]
    assert "sum-instead-of-mean" in page and "got:" in page and "expected:" in page and "hint:" in page
    assert f"In [{redefined}], line 1" in text  # the redefinition, by the kernel's cell number
    assert "sum-instead-of-mean" in text and "FAIL" in text

    _, page, text = outputs(fixed)  # the magic; the last definition counts again
    assert "FAIL" not in page and "PASS" in page and "Total: 3.5 / 3.5 points" in text

    (result,), page, _ = outputs(hostile)  # what the student's code says is shown as text, never as markup
    assert result["tests"][0][1] == "error" and "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    _, page, text = outputs(cells["cut check"])  # a failing autograd check shows both graphs, drawn
    assert "graph cut:" in text and ".item()" in text and page.count("<svg") == 1 and "reference graph" in page


def test_release_starter_notebook_checks_each_function_in_place(kernel, course, tmp_path):
    bundle = write_bundle(course, tmp_path / "bundle", [4242])
    notebook = nbformat.read(str(bundle / starter_notebook.NAME), as_version=4)
    nbformat.validate(notebook)
    sources = [cell.source for cell in notebook.cells]
    assert sources[0].rstrip().endswith("import grader")
    for spec in course.functions:
        definition = next(i for i, s in enumerate(sources) if s.startswith((f"def {spec.name}(", f"class {spec.name}(")))
        assert sources[definition + 1] == f'grader.check("{spec.name}")'
    assert not any("from neuron import" in source or "__main__" in source for source in sources)

    activate = sources.index('grader.check("activate")')
    notebook.cells[activate - 1].source = 'def activate(u):\n    return 1 / (1 + torch.exp(-u))\n'
    notebook.cells[activate].source = "import json\n" + checked('grader.check("activate")')
    notebook.cells = notebook.cells[: sources.index('grader.check("model")') + 1]
    execute(notebook, bundle, kernel)

    (result,), page, _ = outputs(notebook.cells[activate])
    assert result["score"] == result["max"] > 0 and "PASS" in page
    stub_output = "".join(output.data.get("text/plain", "") for output in notebook.cells[-1].outputs if "data" in output)
    assert "not implemented yet" in stub_output and "model" in stub_output


def test_keeps_only_what_the_contract_needs_as_the_kernel_last_defined_it(tmp_path):
    cells = ["", "import grader\nimport torch", "def loss_fn(a, b):\n    return (a - b).sum()",
             'grader.check("loss_fn")', "%time x = 1\n\ndef loss_fn(a, b):\n    return SCALE * torch.mean((a - b) ** 2)",
             "SCALE = 1.0\nW = torch.ones(2)\nlearn(W, max_epochs=20_000)", "!ls\nimport grader; grader.check()",
             "def broken(:", "%%bash\necho hi"]
    namespace = {"loss_fn": len, "torch": object(), "SCALE": 1.0, "W": object(), "x": 1, "grader": object()}
    kept = kernel_source.select(kernel_source.statements(cells), namespace, {"loss_fn", "model"})
    texts = kernel_source.cell_texts(kept, len(cells))
    assert texts[1:] == ["\nimport torch", "", "", "\n\ndef loss_fn(a, b):\n    return SCALE * torch.mean((a - b) ** 2)",
                         "SCALE = 1.0", "", "", ""]
    written = kernel_source.write_submission(kernel_source.Kernel(cells, namespace), {"loss_fn", "model"}, tmp_path)
    assert (tmp_path / kernel_source.KERNEL_FILE).read_text().split() == " ".join(filter(None, texts)).split()
    assert written.shown(f'{kernel_source.KERNEL_FILE}:6; "{kernel_source.KERNEL_FILE}", line 7') == \
        "In [4], line 3; In [4], line 4"  # the def is line 3 of In [4]

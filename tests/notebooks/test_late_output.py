"""Run All on every lesson in a real kernel: no error, and no output after a cell finished.

nbval compares each cell's output as the kernel reports it *until the cell is idle*;
anything that arrives for that cell later (a server's traceback, a callback's print) is
invisible to it, yet JupyterLab appends it under the finished cell. This test runs each
untouched lesson top to bottom, like Run All, then keeps listening for a few seconds, and
fails on

- any output that reached a cell after that cell had finished (late output);
- any error output or text on stderr in any cell (a lesson's Run All is clean);
- anything the lesson or the kit left in the temporary directory once the kernel is gone
  (a ``lesson*`` folder, or a ``kit-*-pid<kernel>-*`` one).

A race that shows once in seven runs needs many runs to be caught: set
``KIT_LATE_OUTPUT_RUNS`` (the default, 3 per lesson, keeps CI short; the maintainers' check
before a release is 20).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
import pytest

from tests.kernel import Kernel

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
RUNS = int(os.environ.get("KIT_LATE_OUTPUT_RUNS", "3"))
LISTEN = float(os.environ.get("KIT_LATE_OUTPUT_LISTEN", "3"))


@pytest.mark.parametrize("run", range(RUNS), ids=lambda run: f"run{run + 1}")
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.name[:2])
def test_run_all_is_clean_and_nothing_arrives_late(lesson: Path, run: int) -> None:
    notebook = nbformat.read(lesson, as_version=4)
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("lesson*"))
    kernel = Kernel(cwd=NOTEBOOKS)
    cells: dict[str, int] = {}
    try:
        pid = kernel.value("__import__('os').getpid()")
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            msg_id, reply = kernel.execute(cell.source)
            cells[msg_id] = index
            assert reply["status"] == "ok", (
                f"{lesson.name} cell {index}: {reply.get('ename')}: {reply.get('evalue')}"
            )
        kernel.drain(timeout=LISTEN)  # the lesson is done: listen for stragglers
    finally:
        kernel.shutdown()
    late = [(cells.get(o.parent, o.parent), o.msg_type, o.text[:300]) for o in kernel.late]
    assert late == [], f"{lesson.name}: output after its cell had finished: {late}"
    noisy = [
        (cells.get(o.parent, o.parent), o.text[:300])
        for o in kernel.outputs
        if o.msg_type == "error" or (o.msg_type == "stream" and o.content["name"] == "stderr")
    ]
    assert noisy == [], f"{lesson.name}: errors or stderr during Run All: {noisy}"
    left = (set(temp.glob("lesson*")) - before) | set(temp.glob(f"kit-*-pid{pid}-*"))
    assert not left, f"{lesson.name}: left in {temp} after the kernel ended: {sorted(left)}"

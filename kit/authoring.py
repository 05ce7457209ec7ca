"""Maintainer commands for the lessons (not used by the lessons themselves).

Re-execute lessons in a fresh kernel and save them with their real outputs, which is what
nbval later compares against::

    python -m kit.authoring refresh                      # every lesson
    python -m kit.authoring refresh notebooks/01-*.ipynb

Needs the ``dev`` extra (nbclient).

Widget state is **not** saved in the lessons, deliberately. Saved state cannot make a
chat panel live (that needs the kernel), JupyterLab does not render it for a notebook that
has not run, and it cost 28-135 KB of noisy JSON per lesson in every diff. Instead each
kit widget carries a static HTML picture of itself in its output (``kit.widgets.static``)
and diagrams carry a PNG: that is what GitHub and an unrun JupyterLab show.

Make a copy of the lessons for learners (no reference solutions, no instructor guide)::

    python -m kit.authoring learner-copy ../class-copy
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["INSTRUCTOR_ONLY", "LESSONS", "learner_copy", "refresh"]

LESSONS = Path(__file__).resolve().parent.parent / "notebooks"


def refresh(path: Path, timeout: int = 120) -> float:
    """Execute ``path`` top to bottom in a fresh kernel and save it; return the seconds taken."""
    import ipykernel.kernelspec
    import nbformat
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    class ThisInterpreter(KernelSpecManager):
        """The kernel runs this very interpreter (the virtualenv's), whatever is installed."""

        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                resource_dir=ipykernel.kernelspec.RESOURCES,
                **ipykernel.kernelspec.get_kernel_dict(),
            )

    manager = KernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
    )
    started = time.perf_counter()
    client.execute()
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return time.perf_counter() - started


INSTRUCTOR_ONLY = ("solutions", "instructor-guide.md")
"""What ``learner-copy`` leaves out of the lessons folder."""


def learner_copy(destination: Path) -> list[Path]:
    """Copy the lessons to ``destination`` without solutions and the instructor guide.

    Outputs stay (learners read them before running); returns the files written.
    """
    import shutil

    if destination.exists() and any(destination.iterdir()):
        raise FileExistsError(f"{destination} is not empty; choose a new folder")
    written = []
    for source in sorted(LESSONS.rglob("*")):
        relative = source.relative_to(LESSONS)
        skipped = {".ipynb_checkpoints", "node_modules"}
        if relative.parts[0] in INSTRUCTOR_ONLY or skipped & set(relative.parts):
            continue
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.authoring", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("refresh", help="re-execute lessons and save their outputs")
    run.add_argument("paths", nargs="*", type=Path, help="notebooks (default: every lesson)")
    copy = commands.add_parser("learner-copy", help="copy the lessons without solutions")
    copy.add_argument("destination", type=Path, help="a new or empty folder")
    args = parser.parse_args(argv)
    if args.command == "learner-copy":
        written = learner_copy(args.destination)
        print(f"{len(written)} files copied to {args.destination} (no solutions, no guide)")
        return 0
    paths = args.paths or sorted(LESSONS.glob("[0-9][0-9]-*.ipynb"))
    for path in paths:
        seconds = refresh(path)
        print(f"{path.name}: executed and saved in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

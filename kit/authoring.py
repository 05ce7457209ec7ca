"""Maintainer commands for the lessons (not used by the lessons themselves).

Re-execute lessons in a fresh kernel and save them with their real outputs, which is what
nbval later compares against::

    python -m kit.authoring refresh                      # every lesson
    python -m kit.authoring refresh notebooks/01-*.ipynb

Needs the ``dev`` extra (nbclient). Widget state is stored in the notebook so that a
reader on the web sees the panels; its model ids are random and nbval ignores them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["LESSONS", "refresh"]

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
        store_widget_state=True,
    )
    started = time.perf_counter()
    client.execute()
    nbformat.write(notebook, path)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.authoring", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("refresh", help="re-execute lessons and save their outputs")
    run.add_argument("paths", nargs="*", type=Path, help="notebooks (default: every lesson)")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(LESSONS.glob("[0-9][0-9]-*.ipynb"))
    for path in paths:
        seconds = refresh(path)
        print(f"{path.name}: executed and saved in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

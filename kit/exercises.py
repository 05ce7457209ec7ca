"""Exercise checks that test the learner: they fail until the answer is right.

Each lesson's exercise has three cells: the task (Markdown), the **answer cell** with a
stub the learner replaces, and the **check cell**, which is plain asserts inside
``kit.exercise``::

    # answer cell
    async def shout(websocket):
        ...  # your code here

    # check cell
    \"\"\"Check: shout() upper-cases text and reverses bytes.\"\"\"
    with kit.exercise("shout", hint="test isinstance(message, str)") as check:
        check.written(shout)               # the stub is "not solved yet", not "wrong"
        ...
        assert reply == "QUIET PLEASE", "text should come back in upper case"

The check never stops a Run All: whatever happens inside the block is turned into one
verdict, printed in the cell, and the exception is swallowed.

=================  ===========================================================  ==========
verdict            when                                                         first line
=================  ===========================================================  ==========
``solved``         the block ran to its end                                     ``✓``
``not solved``     ``check.written()`` found a stub (``...``, ``pass`` or       ``○``
                   ``raise NotImplementedError``), or a name is not defined
``wrong``          an ``assert`` failed: its message says what is wrong          ``✗``
``error``          the learner's code raised, here or in a server it runs       ``✗``
=================  ===========================================================  ==========

Errors raised inside a server the check started (a handler that raised) are found in the
server's log (``server.errors``) and quoted, so the learner sees *their* exception, not
the timeout it caused. Reference solutions are not in the lessons: each lives in
``notebooks/solutions/``, and ``%load solutions/NAME.py`` puts one in the answer cell.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field
from types import TracebackType

from kit.runtime.logbook import LogEntry
from kit.runtime.servers import servers_started_after, started_count

__all__ = ["Exercise", "NotSolvedYet", "exercise", "is_stub"]

SOLVED, NOT_SOLVED, WRONG, ERROR = "solved", "not solved", "wrong", "error"


class NotSolvedYet(Exception):
    """The answer cell still holds its stub (raised by :meth:`Exercise.written`)."""


def is_stub(answer: object) -> bool:
    """True when ``answer`` is None or a function whose body is only a placeholder.

    Placeholders: a docstring, ``...``, ``pass`` and ``raise NotImplementedError(...)``.
    The body is read from the function's source (IPython keeps every cell's source), so
    a learner's one-line answer counts as written even if it is wrong.
    """
    if answer is None:
        return True
    if not callable(answer):
        return False
    try:
        source = textwrap.dedent(inspect.getsource(answer))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return False  # no source to read: assume it was written
    definition = next(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ),
        None,
    )
    if definition is None:
        return False  # a lambda or a class: written by the learner
    return all(_is_placeholder(statement) for statement in definition.body)


def _is_placeholder(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return statement.value.value is Ellipsis or isinstance(statement.value.value, str)
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        raised = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
    return False


@dataclass
class Exercise:
    """One exercise's check: a context manager that turns its block into a verdict.

    Args:
        name: what the learner writes, as the lesson names it (``"shout()"``).
        hint: one sentence that helps without giving the answer away.
        solution: the file under ``notebooks/solutions/`` with the reference answer.
    """

    name: str
    hint: str = ""
    solution: str = ""
    verdict: str = ""
    """``"solved"``, ``"not solved"``, ``"wrong"`` or ``"error"`` once the block ran."""
    message: str = ""
    """What was wrong, in words (empty when solved)."""
    server_errors: list[LogEntry] = field(default_factory=list)
    """Errors logged by servers during the check: a handler of the learner's that raised."""
    _mark: int = 0
    _counts: dict[int, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return self.verdict == SOLVED

    def written(self, *answers: object) -> None:
        """Stop here with "not solved yet" while any answer is still the stub."""
        if any(is_stub(answer) for answer in answers):
            raise NotSolvedYet

    # -- the with-block ------------------------------------------------------------------

    def __enter__(self) -> Exercise:
        self.verdict, self.message, self.server_errors = "", "", []
        self._mark = started_count()
        self._counts = {id(server): len(server.errors) for server in servers_started_after(0)}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if exc is not None and not isinstance(exc, Exception):
            return False  # KeyboardInterrupt (the stop button) and friends go through
        self.server_errors = self._new_server_errors()
        if exc is None:
            self.verdict = SOLVED
        elif isinstance(exc, NotSolvedYet):
            self.verdict = NOT_SOLVED
        elif isinstance(exc, NameError):
            self.verdict = NOT_SOLVED
            self.message = f"{exc}: run the answer cell above first"
        elif isinstance(exc, AssertionError):
            self.verdict = WRONG
            self.message = str(exc) or "a check failed (its assert has no message)"
        else:
            self.verdict = ERROR
            said = str(exc) or (
                "no answer in time" if "Timeout" in type(exc).__name__ else "(no message)"
            )
            self.message = f"{type(exc).__name__}: {said}"
        print(self.report())
        return True  # never stop a Run All

    def _new_server_errors(self) -> list[LogEntry]:
        found: list[LogEntry] = []
        for server in servers_started_after(0):
            before = self._counts.get(id(server), 0) if server.serial <= self._mark else 0
            found.extend(server.errors[before:])
        return found

    def report(self) -> str:
        """The verdict as the check cell prints it."""
        if self.verdict == SOLVED:
            return f"✓ {self.name}: solved, all checks passed."
        lines = []
        if self.verdict == NOT_SOLVED:
            lines.append(f"○ {self.name}: not solved yet.")
            lines.append(
                f"  {self.message}"
                if self.message
                else f"  Write {self.name} in the answer cell above, run it, then run this cell."
            )
        elif self.verdict == WRONG:
            lines.append(f"✗ {self.name}: not right yet: {self.message}")
        else:
            lines.append(f"✗ {self.name}: your code raised {self.message}")
        for entry in self.server_errors[-3:]:
            error = entry.exception
            what = f"{type(error).__name__}: {error}" if error is not None else entry.message
            lines.append(f"  The server reported: {what}")
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        if self.solution:
            lines.append(f"  Stuck? `%load solutions/{self.solution}` in the answer cell.")
        return "\n".join(lines)


def exercise(name: str, *, hint: str = "", solution: str = "") -> Exercise:
    """A check for the exercise ``name``; use it as ``with kit.exercise(...) as check:``."""
    return Exercise(name=name, hint=hint, solution=solution)

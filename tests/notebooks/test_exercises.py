"""Every exercise, three ways: the untouched stub, the reference solution, wrong answers.

For each lesson a real kernel (started in ``notebooks/``, like JupyterLab's) runs the
lesson's cells up to the answer cell, then, for each variant, runs the variant as the
answer cell and the lesson's own check cell after it, and reads the verdict the check
printed. The stub must say "not solved yet", the solution "solved", and each plausible
wrong answer must fail with the message that explains it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from tests.kernel import Kernel

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"


@dataclass(frozen=True)
class Wrong:
    """A plausible wrong answer and a fragment of the verdict it must get."""

    why: str
    code: str
    verdict: str


@dataclass(frozen=True)
class ExerciseCase:
    lesson: str  # the notebook's file name prefix, "01"
    answer: str  # a line only the answer cell has
    check: str  # a line only the check cell has
    name: str  # the name kit.exercise reports
    solution: str  # the file in notebooks/solutions
    wrong: list[Wrong] = field(default_factory=list)


CASES = [
    ExerciseCase(
        lesson="00",
        answer="# Your answer: replace the ... with the body of most_costly()",
        check='"""Check: most_costly() names the method',
        name="most_costly()",
        solution="00_most_costly.py",
        wrong=[
            Wrong(
                "polling is always the worst",
                "def most_costly(rate):\n    return 'short polling'\n",
                "at 100 news/s the tap counted the most bytes per news item for long-polling, "
                "not short polling",
            ),
            Wrong(
                "a request per news item is always the worst",
                "def most_costly(rate):\n    return 'long-polling'\n",
                "at 1 news/s the tap counted the most bytes per news item for short polling, "
                "not long-polling",
            ),
            Wrong(
                "the article's 'heavy' WebSocket",
                "def most_costly(rate):\n    return 'WebSocket'\n",
                "at 1 news/s the tap counted the most bytes per news item for short polling, "
                "not WebSocket",
            ),
            Wrong(
                "a nickname, not a method's name",
                "def most_costly(rate):\n    return 'SSE'\n",
                "return one of ['short polling', 'long-polling', 'server-sent events', "
                "'WebSocket'], not 'SSE'",
            ),
        ],
    ),
    ExerciseCase(
        lesson="01",
        answer="# Your answer: replace the ... with the body of shout()",
        check='"""Check: shout()',
        name="shout()",
        solution="01_shout.py",
        wrong=[
            Wrong(
                "an echo",
                "async def shout(websocket):\n"
                "    async for message in websocket:\n"
                "        await websocket.send(message)\n",
                "not right yet: text should come back in upper case",
            ),
            Wrong(
                "upper-cases bytes too",
                "async def shout(websocket):\n"
                "    async for message in websocket:\n"
                "        await websocket.send(message.upper())\n",
                "not right yet: the bytes should come back reversed, not b'ABC'",
            ),
            Wrong(
                "turns bytes into text",
                "async def shout(websocket):\n"
                "    async for message in websocket:\n"
                "        await websocket.send(str(message).upper())\n",
                "not right yet: a binary message must come back as bytes, not text",
            ),
            Wrong(
                "raises on bytes, in the server",
                "async def shout(websocket):\n"
                "    async for message in websocket:\n"
                "        await websocket.send(message.upper() + '')\n",
                "The server reported: TypeError",
            ),
        ],
    ),
    ExerciseCase(
        lesson="02",
        answer="# Your answer: replace the ... with the body of encode_header()",
        check='"""Check: encode_header()',
        name="encode_header()",
        solution="02_encode_header.py",
        wrong=[
            Wrong(
                "always a 7-bit length",
                "def encode_header(opcode, length, masked):\n"
                "    return bytes([0x80 | opcode, (0x80 if masked else 0) | min(length, 125)])\n",
                "not right yet: 126 bytes, masked=False: got 82 7d, expected 82 7e 00 7e",
            ),
            Wrong(
                "forgets FIN",
                "import struct\n"
                "def encode_header(opcode, length, masked):\n"
                "    m = 0x80 if masked else 0\n"
                "    if length < 126:\n"
                "        return bytes([opcode, m | length])\n"
                "    if length < 65536:\n"
                "        return bytes([opcode, m | 126]) + struct.pack('!H', length)\n"
                "    return bytes([opcode, m | 127]) + struct.pack('!Q', length)\n",
                "not right yet: 0 bytes, masked=False: got 02 00, expected 82 00",
            ),
            Wrong(
                "returns a list",
                "def encode_header(opcode, length, masked):\n    return [0x80 | opcode, length]\n",
                "not right yet: return bytes, not list",
            ),
        ],
    ),
    ExerciseCase(
        lesson="03",
        answer="# Your answer: replace the ... with the body of split_payload()",
        check='"""Check: split_payload()',
        name="split_payload()",
        solution="03_split_payload.py",
        wrong=[
            Wrong(
                "leaves base64 undecoded",
                "def split_payload(body):\n"
                "    return [('MESSAGE', p[1:]) if p[0] == 'b' else (NAMES[int(p[0])], p[1:])\n"
                "            for p in body.split('\\x1e')]\n",
                "not right yet: 'bAQID\\x1e3probe': got [('MESSAGE', 'AQID')",
            ),
            Wrong(
                "forgets binary packets",
                "def split_payload(body):\n"
                "    return [(NAMES[int(p[0])], p[1:]) for p in body.split('\\x1e')]\n",
                "your code raised ValueError: invalid literal for int() with base 10: 'b'",
            ),
            Wrong(
                "splits v3-style",
                "def split_payload(body):\n    return [(NAMES[int(body[0])], body[1:])]\n",
                "not right yet: '4hello\\x1e2\\x1e4world': got [('MESSAGE',",
            ),
        ],
    ),
    ExerciseCase(
        lesson="04",
        answer="# Your answer: replace the ... with the body of add()",
        check='"""Check: `add` acks the sum',
        name="add()",
        solution="04_add.py",
        wrong=[
            Wrong(
                "sums without checking",
                "@sio.on('add')\nasync def add(sid, numbers):\n    return sum(numbers)\n",
                "The server reported: TypeError: unsupported operand type(s)",
            ),
            Wrong(
                "counts True as a number",
                "@sio.on('add')\n"
                "async def add(sid, numbers):\n"
                "    if isinstance(numbers, list) and all(\n"
                "        isinstance(n, (int, float)) for n in numbers\n"
                "    ):\n"
                "        return sum(numbers)\n"
                "    return {'error': 'numbers please'}\n",
                "not right yet: [True, 1] is not a list of numbers: ack {'error': ...}, not 2",
            ),
            Wrong(
                "answers an error as text",
                "@sio.on('add')\n"
                "async def add(sid, numbers):\n"
                "    try:\n"
                "        return sum(numbers)\n"
                "    except TypeError:\n"
                "        return 'error'\n",
                "not right yet: [1, 'two'] is not a list of numbers: ack {'error': ...}, "
                "not 'error'",
            ),
        ],
    ),
    ExerciseCase(
        lesson="05",
        answer="# Your answer: replace the ... with the body of switch()",
        check='"""Check: after `switch`',
        name="switch()",
        solution="05_switch.py",
        wrong=[
            Wrong(
                "enters without leaving",
                "@sio.on('switch', namespace='/post')\n"
                "async def switch(sid, data):\n"
                "    await sio.enter_room(sid, data['room'], namespace='/post')\n",
                "not right yet: the mover should have left room one",
            ),
            Wrong(
                "leaves its own room too",
                "@sio.on('switch', namespace='/post')\n"
                "async def switch(sid, data):\n"
                "    for room in sio.rooms(sid, namespace='/post'):\n"
                "        await sio.leave_room(sid, room, namespace='/post')\n"
                "    await sio.enter_room(sid, data['room'], namespace='/post')\n",
                "not right yet: a client always stays in the room named after its own id",
            ),
            Wrong(
                "forgets the namespace",
                "@sio.on('switch', namespace='/post')\n"
                "async def switch(sid, data):\n"
                "    for room in sio.rooms(sid):\n"
                "        if room != sid:\n"
                "            await sio.leave_room(sid, room)\n"
                "    await sio.enter_room(sid, data['room'])\n",
                "The server reported: ValueError: sid is not connected to requested namespace",
            ),
        ],
    ),
    ExerciseCase(
        lesson="06",
        answer="# Your answer: replace the ... with the body of online()",
        check='"""Check: online() lists the logged-in users',
        name="online()",
        solution="06_online.py",
        wrong=[
            Wrong(
                "forgets to sort",
                "def online(client):\n    return client.call('users')['users']\n",
                "not right yet: got ['carol', 'dave', 'erin', 'zoe', 'yan']",
            ),
            Wrong(
                "returns the whole answer",
                "def online(client):\n    return client.call('users')\n",
                "not right yet: return a list, not dict",
            ),
            Wrong(
                "sorts the answer's keys",
                "def online(client):\n    return sorted(client.call('users'))\n",
                "not right yet: got ['numUsers', 'users']",
            ),
        ],
    ),
    ExerciseCase(
        lesson="07",
        answer="# Your answer: replace the ... with the body of keep_new()",
        check='"""Check: keep_new() shows each offset once',
        name="keep_new()",
        solution="07_keep_new.py",
        wrong=[
            Wrong(
                "shows everything that arrived, replays included",
                "def keep_new(last, arrived):\n    return list(arrived)\n",
                "got ['one', 'two', 'two', 'three', 'three', 'four']: each offset once",
            ),
            Wrong(
                "drops repeated texts instead of repeated offsets",
                "def keep_new(last, arrived):\n"
                "    shown, texts = [], set()\n"
                "    for payload in arrived:\n"
                "        if payload['mess'] not in texts:\n"
                "            texts.add(payload['mess'])\n"
                "            shown.append(payload)\n"
                "    return shown\n",
                "last=2 was shown already; got ['two', 'three']",
            ),
            Wrong(
                ">= instead of >: the last offset seen is shown again",
                "def keep_new(last, arrived):\n"
                "    shown = []\n"
                "    for payload in arrived:\n"
                "        if payload['offset'] >= last:\n"
                "            shown.append(payload)\n"
                "            last = payload['offset']\n"
                "    return shown\n",
                "got ['one', 'two', 'two', 'three', 'three', 'four']: each offset once",
            ),
            Wrong(
                "forgets the payloads of a server without a store",
                "def keep_new(last, arrived):\n"
                "    shown = []\n"
                "    for payload in arrived:\n"
                "        if payload['offset'] > last:\n"
                "            shown.append(payload)\n"
                "            last = payload['offset']\n"
                "    return shown\n",
                "KeyError: 'offset'",
            ),
        ],
    ),
    ExerciseCase(
        lesson="08",
        answer="# Your answer: replace the ... with the body of push()",
        check='"""Check: push() reaches one user',
        name="push()",
        solution="08_push.py",
        wrong=[
            Wrong(
                "pushes to everyone",
                "def push(url, user, text):\n"
                "    import socketio\n"
                "    queue = socketio.RedisManager(url, channel='wire-to-room', write_only=True)\n"
                "    data = {'from': 'backend', 'to': user, 'mess': text}\n"
                "    queue.emit('private message', data)\n",
                "not right yet: yan got zoe's private message too: send it to zoe's sid only",
            ),
            Wrong(
                "takes the name for a room",
                "def push(url, user, text):\n"
                "    import socketio\n"
                "    queue = socketio.RedisManager(url, channel='wire-to-room', write_only=True)\n"
                "    data = {'from': 'backend', 'to': user, 'mess': text}\n"
                "    queue.emit('private message', data, room=user)\n",
                "not right yet: zoe got no 'private message' within 3 s",
            ),
            Wrong(
                "sends a chat line instead",
                "def push(url, user, text):\n"
                "    import redis, socketio\n"
                "    holder = redis.Redis.from_url(url).hget('wire-to-room:users', user)\n"
                "    sid = holder.decode().split(' ')[1]\n"
                "    queue = socketio.RedisManager(url, channel='wire-to-room', write_only=True)\n"
                "    queue.emit('new message', {'user': 'backend', 'mess': text}, room=sid)\n",
                "not right yet: zoe got no 'private message' within 3 s",
            ),
            Wrong(
                "forgets who it is from",
                "def push(url, user, text):\n"
                "    import redis, socketio\n"
                "    holder = redis.Redis.from_url(url).hget('wire-to-room:users', user)\n"
                "    sid = holder.decode().split(' ')[1]\n"
                "    queue = socketio.RedisManager(url, channel='wire-to-room', write_only=True)\n"
                "    queue.emit('private message', {'to': user, 'mess': text}, room=sid)\n",
                "not right yet: zoe got {'to': 'zoe', 'mess': 'your build is green'}",
            ),
        ],
    ),
    ExerciseCase(
        lesson="09",
        answer="# Your answer: replace the ... with the body of connect()",
        check='"""Check: connect() lets a valid token in',
        name="connect()",
        solution="09_connect.py",
        wrong=[
            Wrong(
                "any token will do",
                "@sio.on('connect')\n"
                "async def connect(sid, environ, auth):\n"
                "    if not isinstance(auth, dict) or 'token' not in auth:\n"
                "        raise socketio.exceptions.ConnectionRefusedError('no token')\n",
                "not right yet: a made-up token got in: refuse it",
            ),
            Wrong(
                "refuses without saying why",
                "@sio.on('connect')\n"
                "async def connect(sid, environ, auth):\n"
                "    try:\n"
                "        signer.verify((auth or {}).get('token'))\n"
                "    except ValueError:\n"
                "        return False\n",
                "not right yet: a client without auth was refused without a reason: "
                "raise ConnectionRefusedError(why) instead of returning False",
            ),
            Wrong(
                "refuses everyone",
                "@sio.on('connect')\n"
                "async def connect(sid, environ, auth):\n"
                "    raise socketio.exceptions.ConnectionRefusedError('members only')\n",
                "not right yet: a valid token for 'ann' was refused: "
                "the server refused the connection to /: members only",
            ),
            Wrong(
                "forgets the client without auth",
                "@sio.on('connect')\n"
                "async def connect(sid, environ, auth):\n"
                "    try:\n"
                "        signer.verify(auth['token'])\n"
                "    except ValueError as error:\n"
                "        raise socketio.exceptions.ConnectionRefusedError(str(error))\n",
                "TypeError: 'NoneType' object is not subscriptable",
            ),
            Wrong(
                "a fixed reason that hides the expiry",
                "@sio.on('connect')\n"
                "async def connect(sid, environ, auth):\n"
                "    try:\n"
                "        signer.verify(auth.get('token') if isinstance(auth, dict) else None)\n"
                "    except ValueError:\n"
                "        raise socketio.exceptions.ConnectionRefusedError('bad token')\n",
                "not right yet: an expired token was refused, but the client was told "
                "'the server refused the connection to /: bad token'",
            ),
        ],
    ),
    ExerciseCase(
        lesson="10",
        answer="# Your answer: replace the ... with the body of add_suite_handlers()",
        check='"""Check: add_suite_handlers() answers as the socket.io suite expects',
        name="add_suite_handlers()",
        solution="10_suite_handlers.py",
        wrong=[
            Wrong(
                "the main namespace only",
                "def add_suite_handlers(sio):\n"
                "    @sio.event\n"
                "    async def connect(sid, environ, auth):\n"
                "        await sio.emit('auth', auth, to=sid)\n"
                "    @sio.on('message')\n"
                "    async def message(sid, *args):\n"
                "        await sio.emit('message-back', args, to=sid)\n"
                "    @sio.on('message-with-ack')\n"
                "    async def message_with_ack(sid, *args):\n"
                "        return args\n",
                "not right yet: on /custom the client got None for 'auth'",
            ),
            Wrong(
                "the arguments wrapped in one list",
                "def add_suite_handlers(sio):\n    for ns in ['/', '/custom']:\n"
                "        async def connect(sid, environ, auth, ns=ns):\n"
                "            await sio.emit('auth', auth, to=sid, namespace=ns)\n"
                "        async def message(sid, *args, ns=ns):\n"
                "            await sio.emit('message-back', list(args), to=sid, namespace=ns)\n"
                "        async def message_with_ack(sid, *args):\n"
                "            return args\n"
                "        sio.on('connect', connect, namespace=ns)\n"
                "        sio.on('message', message, namespace=ns)\n"
                "        sio.on('message-with-ack', message_with_ack, namespace=ns)\n",
                "not right yet: on / 'message-back' brought [[1, 'two', {'3': [4]}]]",
            ),
            Wrong(
                "acknowledges with the first argument only",
                "def add_suite_handlers(sio):\n    for ns in ['/', '/custom']:\n"
                "        async def connect(sid, environ, auth, ns=ns):\n"
                "            await sio.emit('auth', auth, to=sid, namespace=ns)\n"
                "        async def message(sid, *args, ns=ns):\n"
                "            await sio.emit('message-back', args, to=sid, namespace=ns)\n"
                "        async def message_with_ack(sid, *args):\n"
                "            return args[0]\n"
                "        sio.on('connect', connect, namespace=ns)\n"
                "        sio.on('message', message, namespace=ns)\n"
                "        sio.on('message-with-ack', message_with_ack, namespace=ns)\n",
                "not right yet: on / the ack was 1, not (1, 'two')",
            ),
            Wrong(
                "greets everyone instead of the new socket, without its auth",
                "def add_suite_handlers(sio):\n    for ns in ['/', '/custom']:\n"
                "        async def connect(sid, environ, auth, ns=ns):\n"
                "            await sio.emit('auth', {}, namespace=ns)\n"
                "        async def message(sid, *args, ns=ns):\n"
                "            await sio.emit('message-back', args, to=sid, namespace=ns)\n"
                "        async def message_with_ack(sid, *args):\n"
                "            return args\n"
                "        sio.on('connect', connect, namespace=ns)\n"
                "        sio.on('message', message, namespace=ns)\n"
                "        sio.on('message-with-ack', message_with_ack, namespace=ns)\n",
                "not right yet: on / the client got [{}] for 'auth'",
            ),
        ],
    ),
]


def _lesson(prefix: str) -> Path:
    (path,) = NOTEBOOKS.glob(f"{prefix}-*.ipynb")
    return path


def _cells(case: ExerciseCase) -> tuple[list[str], str, str]:
    """(code cells before the answer cell, the answer cell, the check cell)."""
    notebook = nbformat.read(_lesson(case.lesson), as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    (answer,) = [i for i, source in enumerate(code) if case.answer in source]
    (check,) = [i for i, source in enumerate(code) if case.check in source]
    assert check == answer + 1, "the check cell comes right after the answer cell"
    return code[:answer], code[answer], code[check]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: f"{case.lesson}-{case.name}")
def lesson(request) -> Iterator[tuple[ExerciseCase, Kernel, str, str]]:
    case: ExerciseCase = request.param
    before, answer, check = _cells(case)
    kernel = Kernel(cwd=NOTEBOOKS)
    try:
        for source in before:
            kernel.run(source)
        yield case, kernel, answer, check
    finally:
        kernel.shutdown()


def _verdict(kernel: Kernel, answer: str, check: str) -> str:
    kernel.run(answer)
    return kernel.output_of(kernel.run(check))


def test_the_untouched_stub_is_not_solved_yet_and_says_how_to_go_on(lesson) -> None:
    case, kernel, answer, check = lesson
    verdict = _verdict(kernel, answer, check)
    assert verdict.startswith(f"○ {case.name}: not solved yet.\n"), verdict
    assert "Hint: " in verdict
    assert f"%load solutions/{case.solution}" in verdict


def test_the_reference_solution_passes(lesson) -> None:
    case, kernel, _, check = lesson
    solution = (SOLUTIONS / case.solution).read_text(encoding="utf-8")
    verdict = _verdict(kernel, solution, check)
    assert verdict == f"✓ {case.name}: solved, all checks passed.\n"


def test_wrong_answers_fail_and_say_why(lesson) -> None:
    case, kernel, _, check = lesson
    assert case.wrong, "every exercise has at least one plausible wrong answer"
    for wrong in case.wrong:
        verdict = _verdict(kernel, wrong.code, check)
        assert verdict.startswith(f"✗ {case.name}: "), f"{wrong.why}: {verdict}"
        assert wrong.verdict in verdict, f"{wrong.why}: {verdict}"
    # And the solution still passes after them: a check leaves nothing behind.
    solution = (SOLUTIONS / case.solution).read_text(encoding="utf-8")
    assert _verdict(kernel, solution, check).startswith("✓")


def test_every_lesson_with_a_check_is_covered() -> None:
    lessons = sorted(path.name[:2] for path in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    with_checks = [
        prefix
        for prefix in lessons
        if "kit.exercise(" in _lesson(prefix).read_text(encoding="utf-8")
    ]
    assert with_checks == sorted(case.lesson for case in CASES)
    assert sorted(p.name for p in SOLUTIONS.glob("*.py")) == sorted(c.solution for c in CASES)

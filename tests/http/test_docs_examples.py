"""The examples of README.md and docs/*.md, run as printed against a real gunicorn.

How an example is written in the docs:

- a fenced block whose info string is `sh` is a runnable example: the
  commands a reader types, without a prompt;
- when the next fenced block, after nothing but blank lines, is a `json` or
  `text` block, that is what the commands print (stdout and stderr, as a
  terminal shows them); an `sh` block without one must print nothing (it
  sets variables, writes a file);
- any other block (`bash`, `sql`, `yaml`, an indented block) is an
  illustration, never run: a production setup, a database this test has not.

Every `sh` block of DOCUMENTS runs in that order in ONE bash session (`set -u`,
so a variable used before it is set stops the run), as a newcomer follows the
docs top to bottom: README first, then the API pages, the CLI, operations.
The service is what README's `make run` starts, on a fresh instance folder:
`wsgi:app` with its embedded SQLite database and the secrets it generates in
instance/config.py, plus docs/api-v2.md's managers line in that file, and
`wsgi:app_v3` beside it on the same database (docs/api-v3.md). The docs'
addresses 127.0.0.1:10000 and :10002 are rewritten to the test's free ports;
`flask --app wsgi` works on the same instance folder, from the folder that
holds it (the commands' working directory).

Answers are compared line by line. A line that is JSON on both sides must be
the same JSON, keys in the same order, after masking what varies between
runs: JWTs, absolute times under the known time keys (their kind is kept:
unix seconds, unix milliseconds, and whether those are whole seconds).
Other lines must be equal after masking JWTs, ISO 8601 times and the CLI's
generated operationIDs. So any changed errCode, errMsg, field or line fails
until the docs are updated.
"""

import json
import re
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.http.server import PROJECT_ROOT, VENV_BIN, Server, stop_all

# The order a newcomer follows; each page's examples build on the ones before.
DOCUMENTS = ["README.md", "docs/api-v2.md", "docs/api-v3.md", "docs/cli.md", "docs/operations.md"]
DOCS_ADDRESS = "127.0.0.1:10000"  # wsgi:app, as `make run` serves it
DOCS_V3_ADDRESS = "127.0.0.1:10002"  # wsgi:app_v3 beside it (docs/api-v3.md)
# docs/api-v2.md: the line the reader adds to instance/config.py before starting the service.
MANAGERS_LINE = 'OPENIM_MANAGER_UIDS = ["admin", "imAdmin"]'
OUTPUT_LANGUAGES = ("json", "text")
RUN_TIMEOUT_SECONDS = 120

FENCE = re.compile(r"^```(\S*)\s*$")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
CLI_OPERATION_ID = re.compile(r"\bcli-[0-9a-f]{32}\b")
# Keys whose values are absolute times; expireTimeSeconds is also v3's lifetime (604800), kept as it is.
TIME_KEYS = frozenset({"expiredTime", "ExpireTimeSeconds", "expireTimeSeconds", "createTime"})
FIRST_UNIX_SECOND = 10**9
FIRST_UNIX_MILLISECOND = 10**12


@dataclass(frozen=True)
class Example:
    path: str
    line: int  # of the sh block's opening fence, from 1
    commands: str
    expected: str | None  # None: prints nothing

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def fenced_blocks(text: str) -> list[tuple[int, int, str, str]]:
    """(line of the opening fence, line of the closing fence, info string, content) of every fenced block.

    Lines count from 1; only fences at the start of a line count.
    """
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        assert end < len(lines), f"line {index + 1}: a fenced block that never closes"
        blocks.append((index + 1, end + 1, opening.group(1), "\n".join(lines[index + 1 : end])))
        index = end + 1
    return blocks


def examples_of(path: str) -> list[Example]:
    text = (PROJECT_ROOT / path).read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks = fenced_blocks(text)
    examples = []
    for position, (opening, closing, language, content) in enumerate(blocks):
        if language != "sh":
            continue
        expected = None
        if position + 1 < len(blocks):
            next_opening, _, next_language, next_content = blocks[position + 1]
            between = lines[closing : next_opening - 1]
            if next_language in OUTPUT_LANGUAGES and not any(part.strip() for part in between):
                expected = next_content
        examples.append(Example(path, opening, content, expected))
    return examples


def all_examples() -> list[Example]:
    return [example for path in DOCUMENTS for example in examples_of(path)]


# --- comparing answers ------------------------------------------------------------------


class JSONObject(list):
    """A JSON object as its (key, value) pairs, in order: key order is part of the answer."""


def mask_text(text: str) -> str:
    text = JWT.sub("<token>", text)
    text = ISO_TIME.sub("<time>", text)
    return CLI_OPERATION_ID.sub("cli-<generated>", text)


def mask_time(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < FIRST_UNIX_SECOND:
        return value
    if value < FIRST_UNIX_MILLISECOND:
        return "<unix seconds>"
    return "<unix milliseconds, whole seconds>" if value % 1000 == 0 else "<unix milliseconds>"


def mask_json(value, key: str | None = None):
    if isinstance(value, JSONObject):
        return JSONObject((name, mask_json(item, name)) for name, item in value)
    if isinstance(value, list):
        return [mask_json(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    if key in TIME_KEYS:
        return mask_time(value)
    return value


def as_json(line: str):
    """The line's JSON value, or None when the line is not JSON (or a bare scalar)."""
    try:
        value = json.loads(line, object_pairs_hook=JSONObject)
    except ValueError:
        return None
    return value if isinstance(value, list) else None  # objects are JSONObjects, lists too


def masked_lines(output: str) -> list:
    lines = [line.rstrip() for line in output.strip("\n").splitlines()]
    return [mask_json(value) if (value := as_json(line)) is not None else mask_text(line) for line in lines]


def shown(line) -> str:
    """A masked line as it reads: JSON again for a JSON line."""

    def plain(value):
        if isinstance(value, JSONObject):
            return {name: plain(item) for name, item in value}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    return json.dumps(plain(line), ensure_ascii=False) if isinstance(line, list) else line


def differences(expected: str | None, actual: str) -> str | None:
    """None when `actual` prints what the docs print (after masking), else what differs."""
    want, got = masked_lines(expected or ""), masked_lines(actual)
    if want == got:
        return None
    for number, (line_wanted, line_got) in enumerate(zip(want, got, strict=False), start=1):
        if line_wanted != line_got:
            return f"line {number} differs:\n    docs:   {shown(line_wanted)}\n    actual: {shown(line_got)}"
    return f"the docs print {len(want)} line(s), the commands {len(got)}"


# --- running them -----------------------------------------------------------------------


def start_marker(index: int) -> str:
    return f"<<<docs-example {index} start>>>"


def end_marker(index: int) -> str:
    return f"<<<docs-example {index} end>>>"


def session_script(examples: list[Example], ports: dict[str, int]) -> str:
    """One bash script: each example between markers, stderr with stdout, the docs' addresses rewritten."""
    parts = ["set -u"]
    for index, example in enumerate(examples):
        commands = example.commands
        for address, port in ports.items():
            commands = commands.replace(address, f"127.0.0.1:{port}")
        parts.append(f"printf '%s\\n' '{start_marker(index)}'")
        parts.append(f"{{\n{commands}\n}} 2>&1 </dev/null")
        parts.append(f"printf '\\n%s\\n' '{end_marker(index)}'")
    return "\n".join(parts) + "\n"


def outputs_of(transcript: str, count: int) -> list[str | None]:
    """Each example's output from the session's transcript; None for those that never ended (see unfinished)."""
    outputs: list[str | None] = []
    for index in range(count):
        start = transcript.find(start_marker(index) + "\n")
        end = transcript.find("\n" + end_marker(index), start)
        if start < 0 or end < 0:
            outputs.append(None)
        else:
            outputs.append(transcript[start + len(start_marker(index)) + 1 : end])
    return outputs


def unfinished(transcript: str, index: int) -> str:
    """What example `index` printed before the session stopped (bash's last words included)."""
    start = transcript.find(start_marker(index) + "\n")
    return transcript[start + len(start_marker(index)) + 1 :] if start >= 0 else ""


@contextmanager
def docs_service(tmp_path: Path) -> Iterator[tuple[Path, dict[str, int], dict]]:
    """`make run`'s service on a fresh instance folder, and wsgi:app_v3 beside it.

    Yields the folder that holds the instance folder, the docs' addresses with
    the ports that serve them, and the service's environment.
    """
    home = tmp_path / "project"
    instance = home / "instance"
    instance.mkdir(parents=True)
    (tmp_path / "v3").mkdir()
    (instance / "config.py").write_text(MANAGERS_LINE + "\n", encoding="utf-8")
    servers = [
        Server(home, "", workers=2),
        Server(tmp_path / "v3", "", workers=1, wsgi_app="wsgi:app_v3"),
    ]
    for server in servers:
        # The instance folder's own database and generated secrets, as with `make run`.
        for key in ("FLASK_OPENIM_SECRET", "FLASK_OPENIM_TOKEN_SECRET", "FLASK_SQLALCHEMY_DATABASE_URI"):
            server.env.pop(key)
        server.env["OPENIM_INSTANCE_PATH"] = str(instance)
    try:
        servers[0].upgrade_database()
        for server in servers:
            server.start()
        yield home, {DOCS_ADDRESS: servers[0].port, DOCS_V3_ADDRESS: servers[1].port}, servers[0].env
    finally:
        stop_all(servers)


def shell_environment(server_env: dict) -> dict:
    """The reader's shell: the venv's commands first, the project importable, the service's instance folder."""
    env = {key: value for key, value in server_env.items() if key not in ("OPENIM_BIND", "OPENIM_WORKERS")}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    # Output in the order it is written, as on a terminal, stdout and stderr interleaved.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_session(examples: list[Example], home: Path, ports: dict[str, int], server_env: dict) -> tuple[list, str]:
    """Each example's output (None from the first that never ended on), and the session's stdout and stderr."""
    script = home / "docs-examples.sh"
    script.write_text(session_script(examples, ports), encoding="utf-8")
    result = subprocess.run(
        ["bash", str(script)],
        cwd=home,
        env=shell_environment(server_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    return outputs_of(result.stdout, len(examples)), result.stdout + result.stderr


@pytest.mark.http
def test_every_example_prints_what_the_docs_print(tmp_path):
    examples = all_examples()
    with docs_service(tmp_path) as (home, ports, server_env):
        outputs, transcript = run_session(examples, home, ports, server_env)
    failures = []
    for index, (example, output) in enumerate(zip(examples, outputs, strict=True)):
        if output is None:
            printed = textwrap.indent(unfinished(transcript, index).strip("\n"), "    ")
            failures.append(f"{example.where()}: the session stopped in this example; it printed:\n{printed}")
            break
        problem = differences(example.expected, output)
        if problem is not None:
            commands = textwrap.indent(example.commands, "    ")
            printed = textwrap.indent(output.strip("\n"), "    ")
            failures.append(f"{example.where()}:\n{commands}\n  {problem}\n  it printed:\n{printed}")
    assert not failures, "\n\n".join(failures)


# --- the docs' shape, and the comparison itself (no server) --------------------------------


def test_only_the_documents_run_in_order_have_runnable_examples():
    """An `sh` block elsewhere would never run: it must be in DOCUMENTS, or be a `bash` illustration."""
    pages = sorted(
        str(path.relative_to(PROJECT_ROOT)) for pattern in ("*.md", "docs/*.md") for path in PROJECT_ROOT.glob(pattern)
    )
    elsewhere = [path for path in pages if path not in DOCUMENTS and examples_of(path)]
    assert not elsewhere
    assert all(examples_of(path) for path in DOCUMENTS)


def test_the_managers_line_is_the_one_the_docs_give():
    assert f"\n{MANAGERS_LINE}\n" in (PROJECT_ROOT / "docs/api-v2.md").read_text(encoding="utf-8")


def test_readme_stays_short_and_keeps_its_two_commands():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    assert "    make run     # " in readme and "    make test    # " in readme


def test_a_changed_answer_is_a_difference():
    printed = '{"errCode":1102,"errMsg":"userID already registered","data":null}'
    assert differences(printed, printed) is None
    assert differences(printed, printed.replace("1102", "1101"))
    assert differences(printed, printed.replace('"data":null', '"data":{}'))
    assert differences(printed, '{"errMsg":"userID already registered","errCode":1102,"data":null}')
    assert differences(printed, printed + "\nsomething more")
    assert differences(None, "Error: something") and differences(printed, "")


def test_what_varies_between_runs_is_masked():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJVSUQiOiJhIn0.c2ln"
    other = "eyJhbGciOiJIUzI1NiJ9.eyJVSUQiOiJiIn0.b3RoZXI"
    assert differences(f'{{"token":"{token}","expiredTime":1796236459}}', f'{{"token":"{other}","expiredTime":1}}')
    assert not differences(
        f'{{"token":"{token}","expiredTime":1796236459}}', f'{{"token":"{other}","expiredTime":1800000000}}'
    )
    # createTime: milliseconds that are never stored are a difference.
    assert differences('{"createTime":1796101892464}', '{"createTime":1796101892000}')
    assert not differences('{"expireTimeSeconds":604800}', '{"expireTimeSeconds":604800}')
    assert differences('{"expireTimeSeconds":604800}', '{"expireTimeSeconds":86400}')
    assert not differences("createdAt    2026-12-02T18:43:19Z", "createdAt    2027-01-01T00:00:00Z")
    assert not differences(f"operationID  cli-{'a' * 32}", f"operationID  cli-{'0' * 32}")

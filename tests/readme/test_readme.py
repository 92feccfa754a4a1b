"""Every snippet in README.md runs as written, the way a newcomer runs it: from a folder with the
project's ``examples/``, the virtualenv of the README's first command activated, servers on the
ports the README names. Each fenced block carries a marker comment, ``<!-- readme-test: NAME -->``
(blocks of one NAME run in order as one shell or Python session) or ``<!-- readme-test: skip
(why) -->``; a block without one fails the first test, so a new snippet cannot go untested."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MARKER = re.compile(r"<!-- readme-test: (?P<name>[a-z-]+|skip \([^)]*\)) -->\n```(?P<lang>\w*)\n")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
SESSION_SECONDS = 240

# What each session must print: the README's own comments promise these.
EXPECTED = {
    "api": [
        '"status":"WAITING"',
        '"status":"SUCCEEDED"',
        '"greeting":"Hello, Ada"',
        '"by":"Grace"',
        "draft.conflict",
    ],
    "helpdesk": ['"duplicate":true', '"attachments"', "contract.pdf"],
    "journeys": [
        '"status":"WAITING"',
        "Subject: Welcome aboard, Ann!",
        '"status":"SUCCEEDED"',
        '"welcomeSeries":"completed"',
        "Subject: Ann, three tips for your pro account",
    ],
    "cli": ['"status": "WAITING"', '"status": "SUCCEEDED"'],
    "python": ["SUCCEEDED {'ticketId': 'T-1'}"],
}


def sessions() -> dict[str, list[tuple[str, str]]]:
    """Marked blocks by session name, in README order: ``[(language, code), …]``."""
    text = README.read_text()
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for marker in MARKER.finditer(text):
        fence = FENCE.match(text, marker.end() - len(marker.group(0).split("\n", 1)[1]))
        assert fence is not None
        name = marker.group("name")
        if not name.startswith("skip"):
            found[name].append((fence.group(1), fence.group(2)))
    return dict(found)


def test_every_snippet_is_tested_or_says_why_not() -> None:
    text = README.read_text()
    marked = {m.end() for m in MARKER.finditer(text)}
    unmarked = [
        text[: fence.start()].count("\n") + 1
        for fence in FENCE.finditer(text)
        if fence.start() + len(fence.group(0).split("\n", 1)[0]) + 1 not in marked
    ]
    assert unmarked == [], f"README blocks at lines {unmarked} have no readme-test marker"
    assert set(sessions()) == {*EXPECTED, "serve"}


def _workdir(tmp_path: Path) -> Path:
    """A folder like a checkout: ``examples/`` and a ``.venv`` whose activate script puts this
    interpreter's environment (a fresh one in CI) on the PATH."""
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")
    bin_dir = Path(sys.executable).parent
    activate = work / ".venv" / "bin" / "activate"
    activate.parent.mkdir(parents=True)
    activate.write_text(f'export VIRTUAL_ENV="{bin_dir.parent}"\nexport PATH="{bin_dir}:$PATH"\n')
    return work


def _environment() -> dict[str, str]:
    prefixes = ("FLOWPIN_", "JOURNEYS_", "HELPDESK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = str(REPO)  # `examples` importable, as from the checkout itself
    return env


def _run_session(args: list[str], cwd: Path) -> str:
    """Run a session in its own process group; whatever it left running (servers, the SMTP
    sink) is stopped when it ends. Output goes to a file: a background server that inherited
    the session's stderr would hold a pipe open for ever."""
    log = cwd / "session.out"
    with log.open("w") as out:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            process.wait(timeout=SESSION_SECONDS)
        finally:
            _stop_group(process.pid)
            process.wait(timeout=30)
    output = log.read_text()
    assert process.returncode == 0, output
    return output


def _stop_group(pgid: int) -> None:
    for sig, pause in ((signal.SIGINT, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)  # a grace period, then SIGKILL: not a wait that may fail


@pytest.mark.timeout(SESSION_SECONDS + 30)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_snippets_run_as_written(name: str, tmp_path: Path) -> None:
    blocks = sessions()[name]
    languages = {language for language, _ in blocks}
    work = _workdir(tmp_path)
    if languages == {"python"}:
        script = work / "session.py"
        script.write_text("\n".join(code for _, code in blocks))
        output = _run_session([sys.executable, str(script)], work)
    else:
        assert languages == {"bash"}, languages
        script = work / "session.sh"
        script.write_text("set -eo pipefail\n" + "\n".join(code for _, code in blocks))
        output = _run_session(["bash", str(script)], work)
    for expected in EXPECTED[name]:
        assert expected in output, f"{expected!r} not in the output of {name}:\n{output}"


@pytest.mark.timeout(SESSION_SECONDS + 30)
def test_the_first_command_sets_up_and_serves(tmp_path: Path) -> None:
    """The README's first command in a copy of the project: a new virtualenv, the install, and
    `flowpin serve --examples` answering with the examples published and the UI at /."""
    [(_, code)] = sessions()["serve"]
    checkout = tmp_path / "checkout"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():
            target = checkout / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    env = {k: v for k, v in _environment().items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        ["bash", "-c", code],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + SESSION_SECONDS
        key = None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("FLOWPIN_API_KEY="):
                key = line.strip().split("=", 1)[1]
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
            assert time.monotonic() < deadline, "".join(lines)
        assert key, "".join(lines)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url="http://127.0.0.1:8000", timeout=10) as http:
            workflows = {
                w["key"] for w in http.get("/api/workflows", headers=headers).json()["items"]
            }
            assert {"hello", "email-to-ticket", "welcome-series"} <= workflows
            page = http.get("/")
            assert page.status_code == 200 and "<div id=" in page.text
    finally:
        _stop_group(process.pid)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()

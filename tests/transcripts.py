"""Console transcripts in README.md and docs/*.md are tests: each ```console block is run
and its output compared with what the page shows.

In a block, a line starting with ``$ `` is a command (a trailing ``\\`` continues it on
the next line); the lines up to the next command are its output (stdout and stderr, as a
terminal shows them), and a last line ``[exit N]`` is its exit status (0 when absent).
The commands of one block run in order in one fresh directory that holds links to
``fixtures/`` and ``scripts/``, with ``pgaudit-parse`` running this checkout's code and no
AWS settings. Only what differs from run to run is normalised (:data:`VARYING`).

    python tests/transcripts.py            # check every page, print the differences
    python tests/transcripts.py --update   # rewrite the pages' output from a real run

>>> [(c.command, c.output, c.status) for c in parse_blocks(
...     "```console\\n$ echo hi\\nhi\\n$ false\\n[exit 1]\\n```\\n")[0].commands]
[('echo hi', ['hi'], 0), ('false', [], 1)]
>>> normalise("queue http://127.0.0.1:43117/123456789012/q")
'queue http://127.0.0.1:PORT/123456789012/q'
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Pages whose console blocks are transcripts.
PAGES = ["README.md", "CONTRIBUTING.md", *sorted(
    str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]

#: What truly varies between runs, and what it is replaced by before comparing.
VARYING: list[tuple[re.Pattern[str], str]] = [
    # The emulator's port (a free one is picked per run).
    (re.compile(r"127\.0\.0\.1:\d{4,5}"), "127.0.0.1:PORT"),
    # The forwarder's window ends at "now" (and starts at the first event, stamped at load).
    (re.compile(r"window \S+ \.\. \S+"), "window START .. NOW"),
    # How long ago the newest CloudWatch event was written (doctor).
    (re.compile(r"newest \d+ s ago"), "newest N s ago"),
]

_FENCE = re.compile(r"^```console[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_EXIT = re.compile(r"^\[exit (\d+)\]$")


@dataclass(slots=True)
class Command:
    """One ``$`` command of a transcript, with the output and status the page shows."""

    command: str
    output: list[str] = field(default_factory=list)
    status: int = 0


@dataclass(slots=True)
class Block:
    """One ```console block: where it is in the page, and its commands."""

    start: int
    end: int
    commands: list[Command]


def parse_blocks(text: str) -> list[Block]:
    """The console blocks of a page (``start``/``end``: the body's character range)."""
    blocks = []
    for match in _FENCE.finditer(text):
        commands: list[Command] = []
        pending: str | None = None
        for line in match.group(1).splitlines():
            if pending is not None:
                pending += "\n" + line
                if not line.endswith("\\"):
                    commands.append(Command(pending))
                    pending = None
            elif line.startswith("$ "):
                if line.endswith("\\"):
                    pending = line[2:]
                else:
                    commands.append(Command(line[2:]))
            elif commands:
                commands[-1].output.append(line)
            else:
                raise ValueError(f"output before the first command in a console block: {line}")
        for command in commands:  # only a last "[exit N]" line is the command's status
            last = _EXIT.match(command.output[-1]) if command.output else None
            if last:
                command.status = int(last.group(1))
                command.output.pop()
        blocks.append(Block(match.start(1), match.end(1), commands))
    return blocks


def normalise(text: str) -> str:
    """``text`` with the parts that vary between runs replaced (:data:`VARYING`)."""
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text


def _environment(bin_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "PGAUDIT"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(TZ="UTC", LC_ALL="C.UTF-8", COLUMNS="100")
    return env


def run_block(block: Block, timeout: float = 300) -> list[tuple[str, int]]:
    """Run the block's commands in a fresh directory: ``(output, status)`` of each."""
    with tempfile.TemporaryDirectory(prefix="transcript-") as work:
        here = Path(work)
        bin_dir = here / ".bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "pgaudit-parse"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pgaudit_parse "$@"\n')
        wrapper.chmod(0o755)
        for name in ("fixtures", "scripts"):
            (here / name).symlink_to(REPO / name)
        env = _environment(bin_dir)
        results = []
        for command in block.commands:
            done = subprocess.run(["bash", "-c", command.command], cwd=here, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
            results.append((done.stdout.decode("utf-8", "replace"), done.returncode))
        return results


def differences(block: Block, results: list[tuple[str, int]]) -> list[str]:
    """What the run shows that the page does not (empty when the page is true)."""
    problems = []
    for command, (output, status) in zip(block.commands, results, strict=True):
        shown = normalise("\n".join(line.rstrip() for line in command.output).rstrip("\n"))
        got = normalise("\n".join(line.rstrip() for line in output.split("\n")).rstrip("\n"))
        if shown != got or status != command.status:
            problems.append(f"$ {command.command}\n--- page (exit {command.status})\n{shown}\n"
                            f"+++ run (exit {status})\n{got}")
    return problems


def render(block: Block, results: list[tuple[str, int]]) -> str:
    """The block's body as a real run writes it (for ``--update``)."""
    lines = []
    for command, (output, status) in zip(block.commands, results, strict=True):
        lines.append("$ " + command.command)
        lines.extend(line.rstrip() for line in output.rstrip("\n").split("\n") if output)
        if status:
            lines.append(f"[exit {status}]")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="pages to check (default: README and docs)")
    parser.add_argument("--update", action="store_true",
                        help="rewrite each block's output from a real run")
    args = parser.parse_args(argv)
    failed = 0
    for page in args.pages or PAGES:
        path = REPO / page if not Path(page).is_absolute() else Path(page)
        text = path.read_text(encoding="utf-8")
        blocks = parse_blocks(text)
        for block in reversed(blocks):  # from the end, so earlier offsets stay valid
            results = run_block(block)
            if args.update:
                text = text[:block.start] + render(block, results) + text[block.end:]
            else:
                for problem in differences(block, results):
                    failed += 1
                    print(f"{page}:\n{problem}\n")
        if args.update:
            path.write_text(text, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

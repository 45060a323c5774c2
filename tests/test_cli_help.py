"""Finding the tool from ``--help``: every subcommand listed, ``--version``, short options,
help text and one metavar per option everywhere, "did you mean" for a misspelled command."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pgaudit_parse
from pgaudit_parse.cli import SUBCOMMANDS, main
from pgaudit_parse.cli import common as cli_common

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RDS_LOG = FIXTURES / "rds-postgresql.log"

#: Arguments that reach each command's argument parser.
COMMAND_ARGV: dict[str, list[str]] = {
    "": [str(RDS_LOG)],
    **{name: [name] for name in SUBCOMMANDS},
}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand_with_one_line() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name in SUBCOMMANDS:
        described = [line for line in lines if line.split()[:1] == [name]
                     and len(line.split()) > 1]
        assert len(described) == 1, f"{name} not listed with a description in --help"


def test_the_help_table_names_exactly_the_subcommands() -> None:
    assert list(cli_common.COMMANDS) == [n for n in cli_common.COMMANDS if n in SUBCOMMANDS]
    assert set(cli_common.COMMANDS) == set(SUBCOMMANDS)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pgaudit-parse {pgaudit_parse.__version__}"


def test_short_options_equal_long_ones(tmp_path: Path) -> None:
    long_out, short_out = tmp_path / "long.jsonl", tmp_path / "short.jsonl"
    long = run_cli("--format", "events", "--output", str(long_out), "--quiet", "--jobs", "2",
                   str(RDS_LOG))
    short = run_cli("-f", "events", "-o", str(short_out), "-q", "-j", "2", str(RDS_LOG))
    assert long.returncode == short.returncode == 0, (long.stderr, short.stderr)
    assert short.stderr == long.stderr == ""
    assert short_out.read_text() == long_out.read_text() != ""


def _parsers(monkeypatch: pytest.MonkeyPatch) -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, caught when the command asks it to parse."""
    caught: list[argparse.ArgumentParser] = []

    class Caught(Exception):
        pass

    def catch(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        caught.append(self)
        raise Caught

    monkeypatch.setattr(cli_common._ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(cli_common._ArgumentParser, "parse_intermixed_args", catch)
    for argv in COMMAND_ARGV.values():
        with pytest.raises(Caught):
            main(argv)
    return dict(zip(COMMAND_ARGV, caught, strict=True))


def _actions(parser: argparse.ArgumentParser,
             name: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _actions(sub, f"{name} {sub_name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield name, action


def test_every_option_has_help_and_one_metavar(monkeypatch: pytest.MonkeyPatch) -> None:
    metavars: dict[str, set[str]] = {}
    missing = []
    for command, parser in _parsers(monkeypatch).items():
        for name, action in _actions(parser, command or "(files)"):
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(label)
            if action.option_strings and action.nargs != 0 and not action.choices:
                long = max(action.option_strings, key=len)
                metavars.setdefault(long, set()).add(str(action.metavar))
    assert missing == [], missing
    differing = {option: sorted(seen) for option, seen in metavars.items() if len(seen) > 1}
    assert differing == {}, differing
    assert "None" not in {m for seen in metavars.values() for m in seen}, metavars


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help(name: str) -> None:
    result = run_cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: pgaudit-parse {name}")


@pytest.mark.parametrize(("typed", "meant"), [("summry", "summary"), ("cloudwach", "cloudwatch"),
                                               ("iam-polcy", "iam-policy"), ("doctr", "doctor")])
def test_a_misspelled_subcommand_gets_did_you_mean(typed: str, meant: str,
                                                   tmp_path: Path) -> None:
    result = run_cli(typed, "x.log", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"pgaudit-parse: {typed!r} is neither a file nor a command; "
                             f"did you mean {meant!r}?\n")
    assert result.stdout == ""


def test_a_file_named_like_a_misspelling_is_read(tmp_path: Path) -> None:
    (tmp_path / "summry").write_bytes(RDS_LOG.read_bytes())
    result = run_cli("-q", "summry", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") > 5


@pytest.mark.parametrize("command", [[], ["-f", "events"], ["-j", "2"], ["summary"],
                                     ["summary", "--json"]])
def test_an_empty_file_is_the_same_with_prefix_auto(command: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    plain = run_cli(*command, str(empty))
    auto = run_cli(*command, str(empty), "--prefix", "auto")
    assert plain.returncode == 0, plain.stderr
    assert (auto.returncode, auto.stdout, auto.stderr) == (0, plain.stdout, plain.stderr)


#: What ``pgaudit-parse ... | head`` gets when head has gone (128 + SIGPIPE, like cat).
BROKEN_PIPE_STATUS = 141


@pytest.mark.parametrize("command", [[], ["-f", "events"], ["-j", "2"], ["summary"],
                                     ["summary", "--json"], ["--summary"]],
                         ids=lambda c: " ".join(c) or "records")
def test_a_closed_pipe_ends_quietly(command: list[str], tmp_path: Path) -> None:
    """Like ``| head`` once head has exited: the reader is gone before the first write."""
    big = tmp_path / "big.log"
    big.write_bytes(RDS_LOG.read_bytes() * 200)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "pgaudit_parse", *command, str(big)],
                                stdout=write_end, stderr=subprocess.PIPE, text=True,
                                timeout=120)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (BROKEN_PIPE_STATUS, "")


def test_iam_policy_into_a_closed_pipe_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "pgaudit_parse", "iam-policy",
                                 "consumer", "--queue-arn", "arn:aws:sqs:eu-west-1:123456789012:q"],
                                stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (BROKEN_PIPE_STATUS, "")

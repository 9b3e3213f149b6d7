"""The CLI never shows a traceback: every command and subcommand, run with an unknown option, wrong-typed option
values, missing required arguments and extra arguments, ends with a usage error (exit 2) or one of the README's
exit codes, and its output holds no "Traceback". In process (main() with sys.argv), so ~300 runs take seconds;
none reaches a command's body (each variant fails while parsing)."""

import re
import sys
import typing
from pathlib import Path

import pytest
import typer

from ragship.cli import app, main

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_codes() -> set[int]:
    line = re.search(r"Exit codes:(.+?)\n\n", README.read_text(), re.S).group(1)
    return {int(n) for n in re.findall(r"(?:^|;)\s*(\d+) ", line)}


def commands(command=None, path=()):
    command = command or typer.main.get_command(app)
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield path + (name,), sub
        yield from commands(sub, path + (name,))


def variants(path, command):
    """(argv, why) misuses that the parser itself must refuse."""
    yield [*path, "--no-such-option"], "unknown option"
    arguments = [p for p in command.params if p.param_type_name == "argument"]  # Typer's own Click: duck-typed
    required = [p for p in arguments if p.required]
    variadic = any(p.nargs == -1 for p in arguments)
    filler = ["x"] * len(required)
    if required:
        yield list(path), "missing argument"
    if not variadic and not hasattr(command, "commands"):
        yield [*path, *filler, "extra-1", "extra-2"], "extra arguments"
    for p in command.params:
        if p.param_type_name == "option" and not p.is_flag and _numeric(p):
            yield [*path, *filler, p.opts[0], "abc"], f"{p.opts[0]} not a number"
            if p.min is not None or p.max is not None:
                yield [*path, *filler, p.opts[0], "-99999999"], f"{p.opts[0]} out of range"


def _numeric(param) -> bool:
    annotation = param.type_descriptor.annotation
    return bool({int, float} & {annotation, *typing.get_args(annotation)})


CASES = [(argv, why) for path, command in commands() for argv, why in variants(path, command)]


def test_the_fuzz_covers_every_command():
    names = {tuple(argv[:len(path)]) for path, _ in commands() for argv, _ in CASES if argv[:len(path)] == list(path)}
    assert len(names) == len(list(commands())) and len(CASES) >= 100


@pytest.mark.parametrize("argv, why", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_misuse_is_one_usage_error_not_a_traceback(argv, why, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["ragship", *argv])
    with pytest.raises(SystemExit) as exit:
        main()
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text and "╭" not in text, (why, text[-800:])
    assert exit.value.code == 2 and "Usage: " in text and "Error:" in text, (why, exit.value.code, text)
    assert exit.value.code in documented_codes()


def test_toml_table_names_survive_in_help_and_errors(capsys, monkeypatch):
    """Issue 31 item 5: Rich markup ate "[[release.golden]]" ("add [] path = ...") and "[[sources]]"."""
    from ragship.cli import release
    from ragship.errors import ConfigError

    shown = 0
    for path, command in commands():
        tables = set(re.findall(r"\[\[[a-z._]+\]\]", " ".join(
            [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params])))
        if not tables:
            continue
        monkeypatch.setattr(sys, "argv", ["ragship", *path, "--help"])
        with pytest.raises(SystemExit):
            main()
        text = " ".join(capsys.readouterr().out.split())
        assert all(t in text for t in tables), (path, tables, text)
        shown += 1
    assert shown  # `ingest --help` names [[sources]]

    def refuse(ctx):
        raise ConfigError("the gate needs golden sets: add [[release.golden]] path = ... to ragship.toml")

    monkeypatch.setattr(release, "engine", refuse)
    monkeypatch.setattr(sys, "argv", ["ragship", "gate", "v1"])
    with pytest.raises(SystemExit):
        main()
    assert "add [[release.golden]] path" in capsys.readouterr().err

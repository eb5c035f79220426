"""Every ``python -m ddpm.…`` command in the docs parses with its tool's own parser.

The commands are read from the fenced shell blocks and the inline code of the README, docs/, the
model card and the assets' README, the way a reader copies them: ``\\`` continues a line, ``&&``,
``;`` and ``|`` separate commands, ``# …`` is a comment, ``NAME=value`` before a command is its
environment, and a variable set in the same block (``common="…"``) is expanded. What a reader fills
in is filled in: ``...`` is dropped, ``<checkpoint>`` becomes a word, ``[--flag value]`` is
taken as written, and each choice of ``{a,b}`` is parsed. Each tool ``ddpm.X`` exposes
``parser()``, its ``argparse.ArgumentParser``; a flag it does not know, a value its type or
choices refuse, or a missing argument fails the test of that command, which names the file and
the line. Commands of other modules (``python -m pytest``) are not checked.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/*.md", "checkpoints/MODEL_CARD.md", "ddpm/assets/README.md")
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console", "text"}
SEPARATORS = {"&&", "||", "|", ";", "&"}
REDIRECTS = {">", ">>", "<", ">&", "<&", "&>", "2>", ">|"}


class Command(NamedTuple):
    """One ``python -m ddpm.X ARGS`` found in a doc: where, the tool, the arguments as a shell
    splits them (one list per choice of a ``{a,b}`` group), and the command as written."""

    where: str  # "docs/cli.md:13"
    module: str  # "ddpm.sample"
    argvs: list[list[str]]
    text: str


def shell_lines(markdown: str) -> list[tuple[int, str, dict[str, str]]]:
    """The shell a markdown text shows: (line number, one logical line, the variables its block set
    before it), from fenced shell blocks (continuations joined) and inline code spans."""
    lines = markdown.split("\n")
    out: list[tuple[int, str, dict[str, str]]] = []
    prose: list[str] = []  # the text outside fences, with fenced lines blanked (line numbers kept)
    fence, block_vars, pending, start = None, {}, "", 0
    for number, line in enumerate(lines, 1):
        marker = re.match(r"\s*(```+|~~~+)\s*([\w+-]*)", line)
        if fence is None and marker:
            fence, language, block_vars = marker.group(1), marker.group(2).lower(), {}
            shell = language in SHELL_BLOCKS
            prose.append("")
            continue
        if fence is not None:
            prose.append("")
            if line.strip().startswith(fence):
                fence = None
                continue
            if not shell:
                continue
            text = re.sub(r"^\s*\$ ", "", line) if not pending else line
            if not pending:
                start = number
            if text.endswith("\\"):
                pending += text[:-1]
                continue
            logical, pending = pending + text, ""
            out.append((start, logical, dict(block_vars)))
            block_vars.update(assignments(logical))
            continue
        prose.append(line)
    text = "\n".join(prose)
    for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
        if "\n\n" not in span.group(1):
            out.append((text.count("\n", 0, span.start()) + 1, span.group(1).replace("\n", " "), {}))
    return out


def assignments(line: str) -> dict[str, str]:
    """``NAME=value`` words that stand alone on a line (a shell variable for the lines after it)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return {}
    if words and all(re.fullmatch(r"[A-Za-z_]\w*=.*", w, flags=re.DOTALL) for w in words):
        return dict(w.split("=", 1) for w in words)
    return {}


def fill_in(line: str) -> str:
    """What a reader fills in: ``<name>`` → a word, ``[--flag value]`` → its content, ``…`` gone."""
    line = re.sub(r"<[A-Za-z][\w .-]*>", "PLACEHOLDER", line)
    line = re.sub(r"\[(-[^\[\]]*)\]", r"\1", line)
    return re.sub(r"(?<!\S)(\.\.\.|…)(?!\S)", " ", line)


def words_of(line: str, variables: dict[str, str]) -> list[str]:
    """The shell words of ``line`` (comments gone; ``$NAME`` of ``variables`` expanded, split)."""
    lexer = shlex.shlex(fill_in(line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = []
    for word in lexer:
        name = re.fullmatch(r"\$\{?(\w+)\}?", word)
        words += shlex.split(variables[name.group(1)]) if name and name.group(1) in variables else [word]
    return words


def simple_commands(words: list[str]) -> list[list[str]]:
    """``words`` split at ``&&``, ``|``, ``;`` …, each without its redirections."""
    commands, current, redirected = [], [], False
    for word in words:
        if word in SEPARATORS:
            commands.append(current)
            current, redirected = [], False
        elif word in REDIRECTS or redirected:
            redirected = True  # the target and whatever follows until the next separator
        else:
            current.append(word)
    return [c for c in [*commands, current] if c]


def ddpm_call(words: list[str]) -> tuple[str, list[str]] | None:
    """(module, arguments) of ``[ENV=…] python -m ddpm.X ARGS`` (or ``torchrun … -m ddpm.X``)."""
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0], flags=re.DOTALL):
        words = words[1:]
    if not words or not re.fullmatch(r"(python3?|torchrun)", Path(words[0]).name) or "-m" not in words:
        return None
    at = words.index("-m")
    if at + 1 >= len(words) or not re.fullmatch(r"ddpm(\.\w+)*", words[at + 1]):
        return None
    return words[at + 1], words[at + 2 :]


def brace_choices(argv: list[str]) -> list[list[str]]:
    """One argument list per alternative of a ``{a,b,c}`` word (the doc's "one of these")."""
    for i, word in enumerate(argv):
        group = re.fullmatch(r"(.*)\{([\w.-]+(?:,[\w.-]+)+)\}(.*)", word)
        if group:
            head, tail = group.group(1), group.group(3)
            return [
                argvs
                for alternative in group.group(2).split(",")
                for argvs in brace_choices([*argv[:i], head + alternative + tail, *argv[i + 1 :]])
            ]
    return [argv]


def commands_in(name: str, markdown: str) -> list[Command]:
    """Every ``python -m ddpm.…`` command of a markdown text, named ``name:line``."""
    found = []
    for number, line, variables in shell_lines(markdown):
        if "-m ddpm" not in line:
            continue
        try:
            words = words_of(line, variables)
        except ValueError as err:  # unbalanced quotes: report it as this command's failure
            found.append(Command(f"{name}:{number}", "?", [], f"{line.strip()} ({err})"))
            continue
        for words_of_one in simple_commands(words):
            call = ddpm_call(words_of_one)
            if call is not None:
                module, argv = call
                found.append(Command(f"{name}:{number}", module, brace_choices(argv), line.strip()))
    return found


def doc_commands() -> list[Command]:
    paths = sorted({p for pattern in DOCS for p in REPO.glob(pattern)})
    return [c for p in paths for c in commands_in(p.relative_to(REPO).as_posix(), p.read_text())]


def metavars_filled_in(p: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """An upper-case word after an option that takes a number or a choice (``--visitors N``) is the
    reader's to fill in: a value of the option's type."""
    argv = list(argv)
    for i in range(1, len(argv)):
        action = p._option_string_actions.get(argv[i - 1])  # argparse has no public lookup
        if action is not None and re.fullmatch(r"[A-Z][A-Z0-9_]*", argv[i]):
            if action.choices:
                argv[i] = str(next(iter(action.choices)))
            elif action.type in (int, float):
                argv[i] = "1"
    return argv


def parse_failure(command: Command) -> str | None:
    """None when every argument list of ``command`` parses with ``parser()`` of its module, else why not."""
    if command.module == "?":
        return f"{command.where}: cannot split `{command.text}`"
    try:
        module = importlib.import_module(command.module)
    except ImportError as err:
        return f"{command.where}: `{command.text}`: cannot import {command.module} ({err})"
    build = getattr(module, "parser", None)
    if not callable(build):
        return (
            f"{command.where}: `{command.text}`: {command.module} has no parser() returning its "
            "argparse.ArgumentParser (every command-line module exposes one)"
        )
    for argv in command.argvs:
        p = build()
        if not isinstance(p, argparse.ArgumentParser):
            return f"{command.where}: {command.module}.parser() returned a {type(p).__name__}"
        argv = metavars_filled_in(p, argv)
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                p.parse_args(argv)
        except SystemExit as exit:
            if exit.code not in (0, None):  # 0: --help
                reason = errors.getvalue().strip().splitlines()[-1] if errors.getvalue().strip() else exit
                return f"{command.where}: `{command.text}` does not parse ({reason}); arguments {argv}"
    return None


COMMANDS = doc_commands()


def test_the_docs_show_commands_of_every_tool():
    modules = {c.module for c in COMMANDS}
    assert {"ddpm.train", "ddpm.sample", "ddpm.evaluate", "ddpm.bench.model", "ddpm.bench.load"} <= modules
    assert len(COMMANDS) > 50  # the README, docs/ and the model card hold about eighty


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.where} {c.module}" for c in COMMANDS])
def test_a_documented_command_parses(command):
    failure = parse_failure(command)
    assert failure is None, failure


EXAMPLE = """\
Run `python -m ddpm.sample --n 4
--seed 1` or `python -m pytest -q`.

```bash
common="--n 2 \\
  --seed 3"
DDPM_X=1 python -m ddpm.sample $common --sampler ddim \\
    --steps 5 ... --out <file>   # a comment --no-such-flag
cd x && python -m ddpm.evaluate a.npz [--bpd] | tee log > out.txt
python -m ddpm.sample --sampler {ddim,euler}
```

```python
subprocess.run("python -m ddpm.sample --bad")
```
"""


def test_commands_are_read_as_a_shell_reads_them():
    found = commands_in("example.md", EXAMPLE)
    assert [(c.where, c.module, c.argvs) for c in found] == [
        ("example.md:7", "ddpm.sample", [["--n", "2", "--seed", "3", "--sampler", "ddim", "--steps", "5",
                                          "--out", "PLACEHOLDER"]]),
        ("example.md:9", "ddpm.evaluate", [["a.npz", "--bpd"]]),
        ("example.md:10", "ddpm.sample", [["--sampler", "ddim"], ["--sampler", "euler"]]),
        ("example.md:1", "ddpm.sample", [["--n", "4", "--seed", "1"]]),
    ]  # fmt: skip
    assert [parse_failure(c) is None for c in found] == [True, True, False, True]  # euler: no such sampler


def test_a_stale_flag_or_a_tool_without_a_parser_is_named():
    (stale,) = commands_in("stale.md", "`python -m ddpm.sample --no-such-flag 1`")
    assert "stale.md:1" in parse_failure(stale) and "--no-such-flag" in parse_failure(stale)
    (bad_value,) = commands_in("v.md", "```\npython -m ddpm.sample --steps many\n```")
    assert "v.md:2" in parse_failure(bad_value) and "many" in parse_failure(bad_value)
    (metavar,) = commands_in("s.md", "`python -m ddpm.sample --steps S --sampler SAMPLER --out FILE`")
    assert parse_failure(metavar) is None  # what the reader fills in: a number, a choice, a word
    (no_parser,) = commands_in("n.md", "`python -m ddpm.choices --x`")
    assert "ddpm.choices has no parser()" in parse_failure(no_parser)
    (missing,) = commands_in("m.md", "`python -m ddpm.no_such_tool`")
    assert "cannot import ddpm.no_such_tool" in parse_failure(missing)

"""Renders docs/cli.md from the argument parser itself, so the reference cannot drift from the CLI:
`python -m acme_server.cli.reference > docs/cli.md` (a test checks the file is current)."""

from __future__ import annotations

import argparse
import functools

from acme_server.cli import build_parser

HEADER = """# CLI reference

Generated from the parser: `python -m acme_server.cli.reference > docs/cli.md`. Every command accepts
`--config`, `--data-dir` and `--database` (see the README's configuration table), and, for CA keys in a
PKCS#11 token, `--pkcs11-module` and `--pkcs11-pin-file` (docs/key-protection.md "CA keys in an HSM").

## Exit codes and errors

| exit | when | standard error |
| --- | --- | --- |
| 0 | done | nothing |
| 1 | the request was refused (unknown name, policy violation, bound key, …) | one `error: ...` line |
| 2 | the command line is wrong (unknown command, option or argument) | short `usage:`, one `error:` line |
| 141 | standard output closed early (`acme-server cert list \\| head`) | nothing, no traceback |

## Shell completion

```sh
eval "$(acme-server completion bash)"          # in ~/.bashrc
eval "$(acme-server completion zsh)"           # in ~/.zshrc (loads bashcompinit)
acme-server completion bash > /etc/bash_completion.d/acme-server
```

Commands and options complete (`acme-server eab cr<TAB>` → `create`, `--max<TAB>` → `--max-accounts`).
"""


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.extend(action.choices.items())
    return found


def _render(parser: argparse.ArgumentParser, path: list[str], out: list[str]) -> None:
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=100)
    children = _subparsers(parser)
    if not children or path[-1] == "serve":
        out += [f"\n## `{' '.join(path)}`\n", "```", parser.format_help().rstrip(), "```"]
    for name, child in children:
        _render(child, [*path, name], out)


def render() -> str:
    parser = build_parser()
    parser.prog = "acme-server"
    out = [HEADER]
    for name, child in _subparsers(parser):
        _render(child, ["acme-server", name], out)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")

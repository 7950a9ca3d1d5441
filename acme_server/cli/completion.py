"""`acme-server completion bash|zsh`: a shell completion script generated from the argument parser
itself (subcommands and options per command), so it cannot drift from the CLI. zsh loads the same
bash function through bashcompinit."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

SHELLS = ("bash", "zsh")
EMPTY = '""'  # the case pattern of the top level


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(option for action in parser._actions for option in action.option_strings)


def _table(parser: argparse.ArgumentParser, path: str, out: list[tuple[str, list[str], list[str]]]) -> None:
    children = _children(parser)
    out.append((path, sorted(children), _options(parser)))
    for name, child in children.items():
        _table(child, f"{path} {name}".strip(), out)


def _case(rows: list[tuple[str, list[str]]]) -> str:
    """One `case` arm per command path: `"eab create") echo '--json --profile ...' ;;`."""
    return "\n".join(
        f"    {shlex.quote(path) if path else EMPTY}) echo {shlex.quote(' '.join(words))} ;;"
        for path, words in rows
    )


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    table: list[tuple[str, list[str], list[str]]] = []
    _table(parser, "", table)
    body = f"""# acme-server {shell} completion: eval "$(acme-server completion {shell})"
_acme_server_commands() {{
  case "$1" in
{_case([(path, children) for path, children, _ in table if children])}
  esac
}}
_acme_server_options() {{
  case "$1" in
{_case([(path, options) for path, _, options in table])}
  esac
}}
_acme_server() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${{COMP_WORDS[i]}}"
    if [[ " $(_acme_server_commands "$path") " == *" $word "* ]]; then
      path="${{path:+$path }}$word"
    fi
  done
  local words=_acme_server_commands
  if [[ "$cur" == -* ]]; then words=_acme_server_options; fi
  # Filtered here rather than by compgen -W: zsh's bashcompinit compgen does not filter by prefix.
  # A command substitution is split into words by bash and zsh alike (a variable is not, in zsh).
  COMPREPLY=()
  for word in $("$words" "$path"); do
    if [[ "$word" == "$cur"* ]]; then COMPREPLY+=("$word"); fi
  done
}}
"""
    if shell == "zsh":
        body += "autoload -U +X bashcompinit && bashcompinit\n"
    return body + "complete -o default -F _acme_server acme-server\n"


def register(commands: Any) -> None:
    parser = commands.add_parser("completion", help="print a shell completion script (bash or zsh)")
    parser.add_argument("shell", choices=SHELLS, help='e.g. eval "$(acme-server completion bash)"')

"""CLI conventions (docs/cli.md "Exit codes"): a usage error is a short usage line and one `error:`
line with exit 2, a CAError one `error:` line with exit 1; a closed pipe ends the command quietly;
`acme-server completion bash|zsh` prints a script that real bash and zsh load and complete from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from acme_server.cli import main
from tests.tools import require_tool, run

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CLI = [sys.executable, "-m", "acme_server.cli"]


@pytest.mark.parametrize(
    ("argv", "usage", "error"),
    [
        (["eab", "create", "--max-accounts"], "acme-server eab create", "argument --max-accounts: expected"),
        (["nope"], "acme-server", "argument COMMAND: invalid choice: 'nope'"),
        (["eab"], "acme-server eab", "the following arguments are required: ACTION"),
        (["cert", "list", "--bogus"], "acme-server", "unrecognized arguments: --bogus"),
    ],
)  # fmt: skip
def test_a_usage_error_is_two_lines_and_exit_2(
    argv: list[str], usage: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    assert (exited.value.code, out) == (2, "")
    lines = err.splitlines()
    assert lines == [f"usage: {usage} ... (see {usage} --help)", lines[1]] and lines[1].startswith(
        f"error: {error}"
    )


def test_a_ca_error_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data-dir", str(tmp_path), "eab", "show", "nope"])
    assert (code, capsys.readouterr().err) == (1, "error: no external account key 'nope'\n")


def test_a_closed_pipe_ends_the_command_without_a_traceback() -> None:
    """`acme-server ... | head -1`: the reader is gone before the command writes (the read end is
    closed before the process starts), so its first write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*CLI, "completion", "bash"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=ENV,
            timeout=60,
            text=True,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_piping_into_head_prints_only_what_head_shows() -> None:
    command = " ".join([*CLI, "completion", "bash"]) + " | head -n 1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, env=ENV, text=True, timeout=60
    )
    assert result.stdout.startswith("# acme-server bash completion") and result.stderr == ""


def _script(shell: str) -> str:
    return run(*CLI, "completion", shell).stdout


COMPLETE = """
source {script}
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _acme_server; echo "${{COMPREPLY[*]}}"; }}
complete_words acme-server e
complete_words acme-server eab cr
complete_words acme-server --data-dir /tmp eab create --max
complete_words acme-server ca ""
complete -p acme-server
"""


def test_bash_sources_the_completion_and_completes_subcommands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "acme-server.bash"
    script.write_text(_script("bash"))
    result = run("bash", "--norc", "-c", COMPLETE.format(script=script))
    lines = result.stdout.splitlines()
    assert lines[:3] == ["eab", "create", "--max-accounts"]
    assert {"create-root", "create-intermediate", "list"} <= set(lines[3].split())
    assert lines[4] == "complete -o default -F _acme_server acme-server"


def test_zsh_loads_the_completion_through_bashcompinit(tmp_path: Path) -> None:
    require_tool("zsh")
    script = tmp_path / "_acme-server.zsh"
    script.write_text(_script("zsh"))
    # _bash_complete calls the function with ksharrays (0-based arrays, as in bash); so does the helper.
    program = f"autoload -U +X compinit && compinit -u -d {tmp_path}/zcompdump\n" + COMPLETE.format(
        script=script
    ).replace("complete -p acme-server", "print ${_comps[acme-server]}").replace(
        "complete_words() {", "complete_words() { setopt localoptions ksharrays;"
    )
    lines = run("zsh", "-f", "-c", program).stdout.splitlines()
    assert lines[:3] == ["eab", "create", "--max-accounts"]
    assert lines[4].startswith("_bash_complete") and lines[4].endswith("-F _acme_server")

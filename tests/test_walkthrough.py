"""The walkthrough (docs/walkthrough.md) stays true: its steps are the demo's, notifier
included; its commands are ones the CLI accepts; its way of choosing ports gives free ones
that the processes read; its recipients file passes the notifier's check; and the sample
events file it publishes is exactly what its documented command generates. Following it on a
real broker, with the figures it quotes, is tests/test_demo_walkthrough.py."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dossierflow.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample-events.jsonl"


def _walkthrough() -> str:
    return (ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    """The first bash code block after `marker`."""
    text = _walkthrough()
    block = re.search(r"```bash\n(.*?)```", text[text.index(marker):], re.S)
    assert block is not None, marker
    return block.group(1)


def _commands(program: str) -> list[list[str]]:
    """Every command line in the walkthrough's code blocks and inline code that starts
    with `program`, comments and prompts removed."""
    text = _walkthrough()
    lines = [
        line
        for block in re.findall(r"```bash\n(.*?)```", text, re.S)
        for line in block.splitlines()
    ]
    lines += re.findall(r"`([^`\n]+)`", text)
    found = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if words[: len(program.split())] == program.split() and len(words) > len(program.split()):
            found.append(words[len(program.split()) :])
    return found


def test_the_walkthrough_runs_every_step_in_order() -> None:
    steps = [words[0] for words in _commands("dossierflow")]
    order = ["kafka", "migrate", "worker", "sink", "notify", "produce", "report"]
    assert [s for s in dict.fromkeys(steps) if s in order] == order


@pytest.mark.parametrize("words", _commands("dossierflow"), ids=shlex.join)
def test_each_walkthrough_command_is_accepted_by_the_cli(words: list[str]) -> None:
    args = build_parser().parse_args(words)  # argparse exits (SystemExit) on a bad line
    assert callable(args.func)


def test_the_sample_file_is_what_its_documented_command_makes(tmp_path: Path) -> None:
    (documented,) = _commands("dossierflow simulate")
    out = documented.index("--out")
    assert documented[out + 1] == "examples/sample-events.jsonl"
    regenerated = tmp_path / "sample-events.jsonl"
    argv = ["simulate", *documented[:out], "--out", str(regenerated), *documented[out + 2 :]]
    assert main(argv) == 0
    assert regenerated.read_bytes() == SAMPLE.read_bytes(), (
        "the generator changed: regenerate examples/sample-events.jsonl with the README's "
        "command and re-check the figures the walkthrough quotes"
    )
    assert len(SAMPLE.read_bytes().splitlines()) == 300


def test_the_ports_it_picks_are_free_distinct_and_read_by_the_processes(tmp_path: Path) -> None:
    # The block as a reader pastes it, with this interpreter as `python`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    result = subprocess.run(
        ["bash", "-euc", _block_after("**Ports.**")], cwd=tmp_path, capture_output=True,
        text=True, check=False, env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    exported = dict(
        pair.split("=", 1)
        for line in (tmp_path / ".dossierflow" / "ports.env").read_text().splitlines()
        for pair in shlex.split(line.removeprefix("export "))
    )
    assert result.stdout.splitlines() == (tmp_path / ".dossierflow" / "ports.env").read_text(
    ).splitlines()  # `cat` shows what was chosen
    kafka = int(exported["DOSSIERFLOW_KAFKA_PORT"])
    assert exported["DOSSIERFLOW_BOOTSTRAP"] == f"localhost:{kafka}"
    sink = int(exported["DOSSIERFLOW_SINK_URL"].removeprefix("http://127.0.0.1:"))
    ports = [kafka, sink] + [int(exported[name]) for name in (
        "DOSSIERFLOW_METRICS_PORT", "DOSSIERFLOW_NOTIFY_METRICS_PORT", "DOSSIERFLOW_SMTP_PORT")]
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # free: nothing listens there
    # Every variable is one that some process reads (`dossierflow config` lists them all).
    shown = subprocess.run([sys.executable, "-m", "dossierflow.cli", "config"],
                           capture_output=True, text=True, check=True, env=exported | {
                               "PATH": "/usr/bin:/bin"}).stdout.splitlines()
    for name, value in exported.items():
        assert f"{name}={value}" in shown, name


def test_its_recipients_file_passes_the_notifiers_check() -> None:
    (check,) = [words for words in _commands("dossierflow notify") if "--check" in words]
    assert main(["notify", *(str(ROOT / w) if w.startswith("examples/") else w
                             for w in check)]) == 0

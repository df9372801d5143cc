"""The README's walkthrough stays true: its commands are ones the CLI accepts, and the sample
events file it publishes is exactly what its documented command generates. (Following it on a
real broker is done by hand; the figures it quotes were measured so.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from dossierflow.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample-events.jsonl"


def _walkthrough() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Walkthrough: running the pipeline by hand")
    return readme[start : readme.index("\n## ", start + 1)]


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
    order = ["kafka", "migrate", "worker", "sink", "produce", "report"]
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

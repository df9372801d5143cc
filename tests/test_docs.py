"""The documents stay a house one can walk through: the README is a short user's document, and
every relative link of the README and of docs/*.md leads to a file that exists and, with an
#anchor, to a heading of that file (GitHub's anchors: lower case, punctuation dropped, spaces
as hyphens, a repeated heading numbered -1, -2, ...)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MOST_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def _prose(text: str) -> str:
    """`text` without its code blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        plain = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def broken_links(document: Path) -> list[str]:
    """Each relative link of `document` whose file or heading does not exist, with why."""
    broken = []
    for target in LINK.findall(_prose(document.read_text(encoding="utf-8"))):
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif (
            anchor and linked.suffix == ".md"
            and anchor not in anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def test_the_readme_is_a_short_users_document() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MOST_LINES, (
        f"README.md has {lines} lines, more than {README_MOST_LINES}: move what is not for a "
        "first reader into docs/ and link it"
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(document: Path) -> None:
    assert broken_links(document) == []


def test_the_readme_links_every_document_of_docs() -> None:
    readme = _prose((ROOT / "README.md").read_text(encoding="utf-8"))
    linked = {target.partition("#")[0] for target in LINK.findall(readme)}
    unlinked = [
        f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")
        if f"docs/{path.name}" not in linked
    ]
    assert unlinked == [], "the README's 'Where to go next' should name every document"


def test_a_missing_file_and_a_missing_heading_are_each_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Kafka and ClickHouse rights\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Two `Faust` defects (fixed)\n\n"
        "[ok](other.md#kafka-and-clickhouse-rights) [ok](#two-faust-defects-fixed) "
        "[ok](https://example.org/x.md) `[code](gone.md)`\n\n"
        "```\n[in a block](gone.md)\n```\n\n"
        "[file](gone.md) [heading](other.md#security) [here](#nowhere)\n"
    )
    assert broken_links(page) == [
        "gone.md: no such file",
        "other.md#security: no heading #security in other.md",
        "#nowhere: no heading #nowhere in page.md",
    ]


def test_repeated_headings_get_numbered_anchors() -> None:
    text = "# Notes\n\n## Tests\n\n## Tests\n\n```\n# not a heading\n```\n"
    assert anchors(text) == {"notes", "tests", "tests-1"}

"""The report's table drawn without rich's console (`reporting.table_text`) against rich's
own drawing of it: the same characters, or no drawing at all where rich might differ."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import unicodedata
from datetime import date

import pytest
from rich.console import Console

from dossierflow.reporting.report import Figures, Report, build_report, report_json
from dossierflow.reporting.report_table import report_table
from dossierflow.reporting.table_layout import report_parts
from dossierflow.reporting.table_text import plain_width, table_text
from dossierflow.rules.catalog import Unit

FROM, TO = date(2026, 3, 1), date(2026, 4, 1)
WIDTHS = [20, 30, 36, 40, 52, 60, 80, 100, 120, 160, 240]

NAMES = {
    "P": ("UBND tỉnh", "province"),
    "S1": ("Sở Nông nghiệp và Môi trường", "department"),
    "S2": ("Sở  Tư   pháp", "department"),  # runs of spaces
    "S3": ("Ban Quản lý các khu công nghiệp tỉnh", "department"),
    "H": ("UBND huyện Đông Sơn", "district"),
    "X1": ("UBND xã Đông Hòa", "commune"),
    "X2": ("Trungtâmphụcvụhànhchínhcôngmộtcửaliênthông", "commune"),  # one long word
    "X3": ("東京都 区役所 窓口", "commune"),  # wide characters
    "X4": (unicodedata.normalize("NFD", "UBND phường Hạc Thành"), "commune"),
}
UNITS = {
    code: Unit(code, name, level, None if code == "P" else "P")
    for code, (name, level) in NAMES.items()
}


def figures(scale: int, overdue: int = 0) -> Figures:
    return Figures(
        carried_over=scale * 7, received=scale * 13, received_online=scale * 8,
        received_in_person=scale * 5, resolved_early=scale * 9, resolved_on_time=scale,
        resolved_overdue=overdue, in_progress=scale * 10 - overdue,
        in_progress_overdue=scale, apologies=scale // 3,
    )


REPORTS = {
    "every level": build_report(
        {code: figures(10 ** (i % 7) + i, i) for i, code in enumerate(UNITS)}, UNITS, FROM, TO
    ),
    "one level": build_report({"S1": figures(123_456), "S2": figures(9)}, UNITS, FROM, TO,
                              level="department"),
    "nothing": build_report({}, UNITS, FROM, TO),
    "not reconciled": build_report({"X1": Figures(received=2, resolved_early=1)}, UNITS,
                                   FROM, TO),
}


def rich_text(report: Report, lang: str, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(report_table(report, lang))
    return out.getvalue()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("name", list(REPORTS))
def test_the_plain_table_is_rich_s_character_for_character(
    name: str, lang: str, width: int
) -> None:
    report = REPORTS[name]
    text = table_text(report_parts(report, lang), width)
    if width >= 80:  # every table fits: drawn here, not left to rich
        assert text is not None
    if text is not None:
        assert text == rich_text(report, lang, width)


@pytest.mark.parametrize("name", ["[bold]Sở[/bold] Tư pháp", "Xã :smile:", "Xã\tĐông"])
def test_what_rich_would_interpret_is_left_to_rich(name: str) -> None:
    units = {"S": Unit("S", name, "department")}
    report = build_report({"S": figures(5)}, units, FROM, TO)
    assert table_text(report_parts(report), 120) is None


def test_the_width_is_rich_s_for_plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert plain_width({"COLUMNS": "132"}) == 132
    assert plain_width({"COLUMNS": "132", "FORCE_COLOR": "1"}) is None
    assert plain_width({"TTY_COMPATIBLE": "1"}) is None
    console_width = Console(file=io.StringIO(), _environ={}).width
    assert plain_width({}) == console_width
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(io.BytesIO(), encoding="latin-1"))
    assert plain_width({"COLUMNS": "132"}) is None  # rich draws ASCII borders


def test_the_command_prints_rich_s_table_without_rich_s_console_when_piped() -> None:
    report = build_report({"S1": figures(123_456), "X1": figures(7)}, UNITS, FROM, TO)
    code = (
        "import sys\n"
        "from dossierflow.commands.report import _print_table\n"
        "from dossierflow.reporting.report import report_from_json\n"
        f"_print_table(report_from_json({report_json(report)!r}), 'en')\n"
        "print('rich.console' in sys.modules, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "COLUMNS": "120"}, timeout=60, check=True,
                          encoding="utf-8")
    assert done.stderr.strip() == "False"
    assert done.stdout == rich_text(report, "en", 120)

"""What the demo says about itself is what it does: the days its report covers, where its
SMTP server runs, and e-mails shown with the names of their fields. The expected dates are
the shipped profile's (src/dossierflow/data/profiles/province-small.yaml: start 2026-03-02,
28 days, so the last day of receipts is Sunday 29/03/2026)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from dossierflow.cli import main
from dossierflow.demo.stack import Demo, Ports
from dossierflow.demo.view import email_line
from dossierflow.rules.catalog import load_catalog
from dossierflow.simulate import load_profile


def _demo(out: io.StringIO) -> Demo:
    profile = load_profile("province-small")
    console = Console(file=out, width=200, force_terminal=False)
    return Demo(Path("unused"), Ports(1, 2, 3, 4, 5), profile, load_catalog(), 1,
                profile.days, None, console)


def test_the_report_heading_names_the_days_streamed_not_a_month() -> None:
    heading = _demo(io.StringIO()).report_heading()
    assert heading == ("The report of the 28 days of receipts streamed, 02/03/2026 to "
                       "29/03/2026 (both included), as the sink's /report gives it:")


def test_the_help_says_which_days_and_where_the_smtp_server_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "month" not in text
    assert "the 28 days from 02/03/2026 to 29/03/2026" in text
    assert "an SMTP server inside the demo's own process" in text


def test_an_email_is_shown_with_its_fields_named() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    console.print(email_line("[Cảnh báo hồ sơ] 3 hồ sơ cần xử lý",
                             ["lanh-dao-sxd@demo.dossierflow.invalid"]))
    assert out.getvalue() == ("  ✉ To: lanh-dao-sxd@demo.dossierflow.invalid · "
                              "Subject: [Cảnh báo hồ sơ] 3 hồ sơ cần xử lý\n")

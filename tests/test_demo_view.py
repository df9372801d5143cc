"""The demo's live view, run with the streams a newcomer's demo meets: a terminal, and a pipe
or a log file (a script, CI, `| tee`), where rich's live table only appears when it stops."""

from __future__ import annotations

import io

from rich.console import Console

from dossierflow.demo.view import Progress, ProgressView


def _progress(sent: int, clock: str = "02/03/2026 08:00") -> Progress:
    return Progress(clock=clock, sent=sent, total=3000, processed=sent // 2, alerts=sent // 100,
                    alerts_at_notifier=sent // 100, delivered=sent // 200)


class _Clock:
    """A hand-turned monotonic clock: the view's pace without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pipe() -> tuple[io.StringIO, Console]:
    out = io.StringIO()
    return out, Console(file=out, width=200, force_terminal=False)


def test_into_a_pipe_it_prints_progress_lines_while_the_month_streams() -> None:
    out, console = _pipe()
    clock = _Clock()
    with ProgressView(console, _progress(0), every=5.0, clock=clock) as view:
        view.update(_progress(400))
        after_first_look = out.getvalue()
        clock.now = 2.0
        view.update(_progress(600))  # too soon after the last line: not printed
        clock.now = 5.0
        view.update(_progress(1000, "03/03/2026 10:15"))
        clock.now = 12.0
        view.update(_progress(1000, "03/03/2026 10:15"))  # nothing new: not printed again
        while_streaming = out.getvalue()
    # Lines appear as the month goes by, before the view stops.
    assert after_first_look == (
        "  event time (worker clock) 02/03/2026 08:00 · events sent 400 / 3,000 · "
        "events processed 200 · alerts published 4 · alerts at notifier 4 · "
        "e-mails delivered 2\n"
    )
    assert while_streaming.splitlines() == [
        after_first_look.rstrip("\n"),
        "  event time (worker clock) 03/03/2026 10:15 · events sent 1,000 / 3,000 · "
        "events processed 500 · alerts published 10 · alerts at notifier 10 · "
        "e-mails delivered 5",
    ]
    # Then the final figures once more, as the table a terminal ends on.
    table = out.getvalue()[len(while_streaming):]
    assert "dossierflow demo" in table
    assert "│ 03/03/2026 10:15 │ 1,000 / 3,000 │" in " ".join(table.split())


def test_notes_come_between_the_progress_lines_as_they_happen() -> None:
    out, console = _pipe()
    with ProgressView(console, _progress(0), every=0.0, clock=_Clock()) as view:
        view.update(_progress(100))
        view.note("  ✉ [Cảnh báo hồ sơ] 3 hồ sơ cần xử lý")
        view.update(_progress(200))
        lines = out.getvalue().splitlines()
    assert [line.split(" · ")[1] if " · " in line else line for line in lines] == [
        "events sent 100 / 3,000", "  ✉ [Cảnh báo hồ sơ] 3 hồ sơ cần xử lý",
        "events sent 200 / 3,000",
    ]


def test_on_a_terminal_it_draws_the_table_in_place_and_prints_no_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, force_interactive=True)
    with ProgressView(console, _progress(0), every=0.0, clock=_Clock()) as view:
        view.update(_progress(400))
    shown = out.getvalue()
    assert "events sent 400" not in shown  # no progress line ...
    assert "400 / 3,000" in shown  # ... the table, redrawn
    assert "\x1b[" in shown  # with the cursor moves of a live display

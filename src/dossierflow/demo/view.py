"""What the demo shows while its days of receipts stream: a live table on a terminal, and
progress lines everywhere else.

rich's live display redraws in place on an interactive terminal, but into a file, a pipe
or a dumb terminal it can only print its final state when it stops, so a demo run by a
script or into a log said nothing for minutes. There, the view prints the same figures as
one line at most every `every` seconds (when they changed), then the final table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

LINE_EVERY = 5.0
"""Seconds between two progress lines when the output is not a terminal."""


@dataclass(frozen=True)
class Progress:
    """The figures of one look at the pipeline."""

    clock: str
    """The worker's event-time clock, dd/mm/yyyy HH:MM, or "–" before its first event."""
    sent: int
    total: int
    processed: int
    alerts: int
    alerts_at_notifier: int
    delivered: int

    def cells(self) -> list[str]:
        return [self.clock, f"{self.sent:,} / {self.total:,}", f"{self.processed:,}",
                f"{self.alerts:,}", f"{self.alerts_at_notifier:,}", f"{self.delivered:,}"]


_COLUMNS = ("event time (worker clock)", "events sent", "events processed",
            "alerts published", "alerts at notifier", "e-mails delivered")


def progress_table(progress: Progress) -> Table:
    table = Table(show_header=True, header_style="bold", title="dossierflow demo")
    for column in _COLUMNS:
        table.add_column(column, justify="right")
    table.add_row(*progress.cells())
    return table


def progress_line(progress: Progress) -> str:
    return "  " + " · ".join(f"{name} {cell}" for name, cell in zip(_COLUMNS, progress.cells(),
                                                                    strict=True))


def email_line(subject: str, recipients: list[str]) -> str:
    """One e-mail the mailbox received, as a console line (rich markup)."""
    return f"  ✉ To: {escape(', '.join(recipients))} · Subject: {escape(subject)}"


class ProgressView:
    """`with ProgressView(console, first) as view: view.update(p); view.note(text)`."""

    def __init__(
        self, console: Console, first: Progress, every: float = LINE_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self._latest = first
        self._every, self._clock = every, clock
        self._live: Live | None = None
        self._printed: Progress | None = None
        self._printed_at = float("-inf")

    def __enter__(self) -> ProgressView:
        if self.console.is_interactive:
            self._live = Live(progress_table(self._latest), console=self.console,
                              refresh_per_second=4)
            self._live.__enter__()
        return self

    def update(self, progress: Progress) -> None:
        self._latest = progress
        if self._live is not None:
            self._live.update(progress_table(progress))
        elif progress != self._printed and self._clock() - self._printed_at >= self._every:
            self.console.print(progress_line(progress), highlight=False, soft_wrap=True)
            self._printed, self._printed_at = progress, self._clock()

    def note(self, text: str) -> None:
        """A line printed above the live table (or between the progress lines)."""
        self.console.print(text, highlight=False, soft_wrap=True)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, trace)
            self.console.line()  # the live view leaves the cursor at the end of its last line
        elif kind is None:
            self.console.print(progress_table(self._latest))

"""The intake's memory of each dossier, kept on disk so that it outlives the process.

The translator needs three facts that a body does not repeat (`DossierMemory`): the slip's
appointment, the last status and the last step's instant. Without the first, a changed
`NgayHenTra` cannot be told from the slip's after a restart of `intake serve` or across two
`intake FILE` runs, and the apology is missed (docs/intake.md, "Memory"). This file keeps
them in SQLite (the standard library's; one row per dossier), which gives atomic commits:
the memory on disk is always that of a whole number of bodies.

One process at a time: the file is opened in SQLite's exclusive locking mode, so a second
intake on the same file is refused with a sentence instead of reading a memory that the
first one changes under it; the rows are therefore read once, at open, into a dict.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from dossierflow.errors import DossierflowError
from dossierflow.intake.translate import DossierMemory

FORMAT_VERSION = 1
"""`PRAGMA user_version` of the file: a file of another version is refused, not misread."""
_SCHEMA = """CREATE TABLE IF NOT EXISTS dossier_memory (
    dossier_id TEXT PRIMARY KEY,
    first_due TEXT,
    last_code INTEGER,
    last_step_at TEXT
) WITHOUT ROWID"""


class IntakeMemoryError(DossierflowError):
    """The memory file cannot be opened, read or written."""


class MemoryFile:
    """The memory of an intake, loaded at open; `save` stages what a body changed and
    `commit` makes everything staged durable at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=1.0, isolation_level=None)
            self._db.execute("PRAGMA locking_mode = EXCLUSIVE")
            # WAL with synchronous NORMAL: a commit survives the process being killed (what
            # a restart is); only a power loss may cost the last bodies, which the sender
            # then sends again (it had no answer) or the next body of the dossier restates.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise self._error("cannot open", exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._error("cannot read", exc) from None
        self.memory = self._load()

    def _load(self) -> dict[str, DossierMemory]:
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'dossier_memory'"
            ).fetchone()[0]
            if version == 0 and not tables:
                self._db.execute(_SCHEMA)
                self._db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
                self._db.execute("COMMIT")
                self._db.execute("BEGIN")
                return {}
            if version != FORMAT_VERSION:
                raise IntakeMemoryError(
                    f"intake memory {self.path} is of format {version}, this version reads "
                    f"format {FORMAT_VERSION}: use the dossierflow that wrote it, or a new file "
                    "(a new file forgets the slips' appointments: see docs/intake.md, Memory)"
                )
            rows = self._db.execute(
                "SELECT dossier_id, first_due, last_code, last_step_at FROM dossier_memory"
            ).fetchall()
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise self._error("cannot read", exc) from None
        return {dossier: DossierMemory(_instant(due), code, _instant(step))
                for dossier, due, code, step in rows}

    def save(self, remembered: Mapping[str, DossierMemory]) -> None:
        """Stage what a body changed (the dict `memory` is the caller's to update)."""
        if not remembered:
            return
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO dossier_memory VALUES (?, ?, ?, ?)",
                [(dossier, _text(m.first_due), m.last_code, _text(m.last_step_at))
                 for dossier, m in remembered.items()],
            )
        except sqlite3.DatabaseError as exc:
            raise self._error("cannot write", exc) from None

    def commit(self) -> None:
        try:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise self._error("cannot write", exc) from None

    def close(self) -> None:
        """Close without committing: what was staged since the last `commit` is dropped."""
        self._db.close()

    def _error(self, what: str, exc: sqlite3.Error) -> IntakeMemoryError:
        cure = ("another intake holds it (one process per memory file)"
                if "locked" in str(exc) else "check the path and its permissions")
        return IntakeMemoryError(
            f"intake memory {self.path}: {what}: {exc}; {cure} (DOSSIERFLOW_INTAKE_MEMORY_FILE)"
        )


def _text(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None

"""The notifier's durable state: one SQLite file (WAL) per notifier.

Why SQLite: the state is small (deliveries of the last weeks, a few digests waiting), every
change is a handful of rows that must land together (an alert's deliveries, a message's
claim, a sent mark), and it must survive a SIGKILL. SQLite gives transactions, indexes for
"what is due now" and a file an operator can inspect with `sqlite3`, from the standard
library. A Faust table would tie the notifier to the worker's framework, and a compacted
topic would need a second consumer to rebuild an index the store keeps for free.

Tables:
- `deliveries`: one row per alert × person × channel (the primary key is the dedup key); state
  `waiting` → `claimed` (in a message) → `sent`, or `inhibited`.
- `messages`: the outbox; a message is claimed once with a deterministic id and its alerts, and
  is re-sent with that same id until the channel accepts it.
- `open_alerts`: the latest alert of each dossier not yet closed (the morning digest);
  `closed_dossiers` remembers closings, because the facts topic may deliver a closing
  before an alert of the same dossier on the alerts topic.
- `mornings`: the days whose morning digest was planned.

Offsets are committed to Kafka only after `accept` returned, so an alert is either in this
file or will be read again; a re-read inserts nothing new (INSERT OR IGNORE on the key).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import msgspec

from dossierflow.notify.planning import inhibited_kinds, is_digest, message_id
from dossierflow.rules.alerts import Alert

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    deadline REAL NOT NULL,
    alert BLOB NOT NULL,
    planned_at REAL NOT NULL,
    send_at REAL NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT,
    PRIMARY KEY (alert_id, person_id, channel)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, send_at);
CREATE INDEX IF NOT EXISTS deliveries_dossier ON deliveries (dossier_id, kind);
CREATE INDEX IF NOT EXISTS deliveries_person ON deliveries (person_id, channel, state, send_at);
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries (message_id);
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    unit_code TEXT,
    alerts BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created REAL NOT NULL,
    first_alert_at REAL NOT NULL,
    sent REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (state, next_attempt);
CREATE INDEX IF NOT EXISTS messages_ready_by_person
    ON messages (state, person_id, channel, next_attempt, message_id);
CREATE TABLE IF NOT EXISTS open_alerts (
    dossier_id TEXT PRIMARY KEY,
    unit_code TEXT NOT NULL,
    at REAL NOT NULL,
    alert BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS closed_dossiers (dossier_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS mornings (day TEXT PRIMARY KEY);
"""

HOLDING_FAILURES = 8
"""Failures of a recipient's unaccepted message after which its new deliveries no longer wait
behind it. The wait gathers what a recipient misses while its server is down into one
message; but a receiver may refuse one message for ever (a webhook's 400/413/422, an SMTP
552/554 on its content, all retried as temporary), and that one must not hold back the
recipient's later alerts, OVERDUE included. With the default backoff (2 s doubled, jittered
to [c/2, c]) the 8th failure comes 2–4 minutes after the first: a receiver's restart or a
short network cut still yields one message, while a refused message delays the others by
minutes, against deadlines counted in working days."""

_OPEN_KINDS = ("AT_RISK", "APOLOGY_DUE", "OVERDUE", "RESCHEDULED_OVERDUE")
"""Alerts that put a dossier on its unit's morning digest until it closes."""

_encode = msgspec.json.Encoder().encode
_decode_alerts = msgspec.json.Decoder(list[Alert]).decode
_decode_alert = msgspec.json.Decoder(Alert).decode


@dataclass(frozen=True)
class PlannedDelivery:
    """What `accept` stores for one alert × person × channel."""

    alert: Alert
    person_id: str
    channel: str
    send_at: Callable[[datetime | None], datetime]
    """The send instant given the instant of the person's deliveries already waiting."""


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    person_id: str
    channel: str
    kind: str
    unit_code: str | None
    alerts: tuple[Alert, ...]
    attempts: int
    first_alert_at: float


class NotifyStore:
    """All state changes are single transactions; methods are synchronous (each is a few
    rows; the notifier calls them from its event loop)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed transaction is on disk before Kafka offsets move past it.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed when the block ends, rolled back when it
        raises (or the commit fails)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # --- intake ---------------------------------------------------------------------

    def accept(self, planned: Sequence[PlannedDelivery], alerts: Iterable[Alert],
               now: datetime) -> int:
        """Store the deliveries of a batch of alerts in one transaction, applying
        inhibition and keeping the open-dossier list; returns the deliveries new to the store
        (re-read alerts add none)."""
        encoded: dict[int, bytes] = {}  # by id(): each alert is encoded once per batch

        def encode(alert: Alert) -> bytes:
            if id(alert) not in encoded:
                encoded[id(alert)] = _encode(alert)
            return encoded[id(alert)]

        with self._transaction() as db:
            for alert in alerts:
                self._inhibit(alert)
                if alert.kind in _OPEN_KINDS:
                    unit = alert.handling_unit_code or alert.unit_code
                    if unit and not self._is_closed(alert.dossier_id):
                        db.execute(
                            "INSERT INTO open_alerts VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (dossier_id) DO UPDATE SET unit_code = excluded.unit_code,"
                            " at = excluded.at, alert = excluded.alert WHERE excluded.at >= at",
                            (alert.dossier_id, unit, alert.at.timestamp(), encode(alert)),
                        )
            # The earliest waiting send instant of each person and channel, read once and
            # kept up to date as this batch adds waiting deliveries.
            earliest_waiting: dict[tuple[str, str], float] = {
                (person_id, channel): send_at
                for person_id, channel, send_at in db.execute(
                    "SELECT person_id, channel, MIN(send_at) FROM deliveries "
                    "WHERE state = 'waiting' GROUP BY person_id, channel"
                )
            }
            added = 0
            moot_alert, moot = None, False
            for item in planned:
                alert = item.alert
                # An alert's own deliveries cannot make it moot: ask once per run of them.
                if alert is not moot_alert:
                    moot_alert, moot = alert, self._is_moot(alert)
                target = (item.person_id, item.channel)
                waiting = earliest_waiting.get(target)
                since = None if waiting is None else datetime.fromtimestamp(waiting, now.tzinfo)
                send_at = item.send_at(since).timestamp()
                cursor = db.execute(
                    "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        alert.alert_id, item.person_id, item.channel, alert.dossier_id,
                        alert.kind, alert.deadline.timestamp(), encode(alert), now.timestamp(),
                        send_at, "inhibited" if moot else "waiting",
                    ),
                )
                if cursor.rowcount and not moot:
                    earliest_waiting[target] = send_at if waiting is None else min(waiting, send_at)
                added += cursor.rowcount
        return added

    # A stronger alert silences a weaker one of the same dossier whose deadline is not later
    # than its own: OVERDUE and AT_RISK of one `due_at`, or OVERDUE and the later
    # RESCHEDULED_OVERDUE; an AT_RISK of a deadline computed afresh (a pause with `restart`)
    # after an OVERDUE is news.

    def _inhibit(self, alert: Alert) -> None:
        kinds = inhibited_kinds(alert.kind)
        if kinds:
            marks = ",".join("?" * len(kinds))
            self._db.execute(
                f"UPDATE deliveries SET state = 'inhibited' WHERE dossier_id = ? "
                f"AND state = 'waiting' AND kind IN ({marks}) AND deadline <= ?",
                (alert.dossier_id, *sorted(kinds), alert.deadline.timestamp()),
            )

    def _is_moot(self, alert: Alert) -> bool:
        """Whether an alert that silences this one is already known for the dossier (an
        AT_RISK that arrives after its OVERDUE)."""
        stronger = [k for k in _OPEN_KINDS if alert.kind in inhibited_kinds(k)]
        if not stronger:
            return False
        marks = ",".join("?" * len(stronger))
        row = self._db.execute(
            f"SELECT 1 FROM deliveries WHERE dossier_id = ? AND kind IN ({marks}) "
            f"AND deadline >= ? LIMIT 1",
            (alert.dossier_id, *stronger, alert.deadline.timestamp()),
        ).fetchone()
        return row is not None

    def _is_closed(self, dossier_id: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM closed_dossiers WHERE dossier_id = ?", (dossier_id,)
        ).fetchone() is not None

    def close_dossiers(self, dossier_ids: Iterable[str], now: datetime) -> None:
        ids = [(d,) for d in dossier_ids]
        if not ids:
            return
        with self._transaction() as db:
            db.executemany("DELETE FROM open_alerts WHERE dossier_id = ?", ids)
            db.executemany(
                "INSERT OR IGNORE INTO closed_dossiers VALUES (?, ?)",
                [(d, now.timestamp()) for (d,) in ids],
            )

    def forget_before(self, instant: datetime) -> None:
        """Drop what no re-read can need any more: sent and dropped messages, their
        deliveries and closings older than `instant` (older than the topics' retention)."""
        cutoff = instant.timestamp()
        with self._transaction() as db:
            db.execute(
                "DELETE FROM deliveries WHERE planned_at < ? AND state IN ('sent', 'inhibited')",
                (cutoff,),
            )
            db.execute(
                "DELETE FROM messages WHERE created < ? AND state IN ('sent', 'dropped')",
                (cutoff,),
            )
            db.execute("DELETE FROM closed_dossiers WHERE at < ?", (cutoff,))

    # --- the outbox -----------------------------------------------------------------

    def claim_due(self, now: datetime, window_seconds: float, max_alerts: int = 100) -> int:
        """Group each person's due deliveries per channel into messages of at most
        `max_alerts` alerts; returns how many messages were created. A recipient with a
        message not yet accepted (in flight, or failing and waiting to be retried) that has
        failed fewer than `HOLDING_FAILURES` times gets no new one: its deliveries keep
        waiting and leave together in the next message, so a recipient that is down gets
        fewer, fuller messages instead of a queue of small ones, and an OVERDUE can still
        silence an AT_RISK waiting behind it. Past that many failures the message may be
        one its receiver refuses for ever: new deliveries form messages again, each retried
        on its own backoff (and holding the next ones in turn while it fails)."""
        with self._transaction() as db:
            groups: dict[tuple[str, str], list[tuple[str, bytes, float, float]]] = {}
            for row in db.execute(
                "SELECT person_id, channel, alert_id, alert, planned_at, send_at "
                "FROM deliveries WHERE state = 'waiting' AND send_at <= ? "
                "AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.state = 'ready' "
                "AND messages.person_id = deliveries.person_id "
                "AND messages.channel = deliveries.channel AND messages.attempts < ?) "
                "ORDER BY planned_at, alert_id",
                (now.timestamp(), HOLDING_FAILURES),
            ):
                groups.setdefault((row[0], row[1]), []).append(row[2:])
            created = 0
            for (person_id, channel), rows in groups.items():
                for start in range(0, len(rows), max_alerts):
                    self._claim(person_id, channel, rows[start:start + max_alerts], now,
                                timedelta(seconds=window_seconds))
                    created += 1
        return created

    def _claim(self, person_id: str, channel: str, rows: Sequence[tuple[str, bytes, float, float]],
               now: datetime, window: timedelta) -> None:
        alert_ids = [r[0] for r in rows]
        mid = message_id(person_id, channel, alert_ids)
        alerts = [_decode_alert(r[1]) for r in rows]
        first_planned = datetime.fromtimestamp(min(r[2] for r in rows), now.tzinfo)
        send_instant = datetime.fromtimestamp(max(r[3] for r in rows), now.tzinfo)
        kind = "digest" if is_digest(first_planned, send_instant, window) else "batch"
        first_alert_at = min(a.at.timestamp() for a in alerts)
        self._insert_message(mid, person_id, channel, kind, None, alerts, now, first_alert_at)
        self._db.executemany(
            "UPDATE deliveries SET state = 'claimed', message_id = ? "
            "WHERE alert_id = ? AND person_id = ? AND channel = ?",
            [(mid, a, person_id, channel) for a in alert_ids],
        )

    def _insert_message(
        self, mid: str, person_id: str, channel: str, kind: str, unit_code: str | None,
        alerts: Sequence[Alert], now: datetime, first_alert_at: float,
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO messages (message_id, person_id, channel, kind, unit_code,"
            " alerts, state, next_attempt, created, first_alert_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'ready', ?, ?, ?)",
            (mid, person_id, channel, kind, unit_code, _encode(list(alerts)),
             now.timestamp(), now.timestamp(), first_alert_at),
        )

    def ready(self, now: datetime, busy: Iterable[tuple[str, str]] = (), limit: int = 500
              ) -> list[StoredMessage]:
        """The messages to send now: of each recipient (person, channel) not in `busy` (a
        message of theirs is in flight), the due message with the earliest next attempt. One at
        a time per recipient: a recipient whose server hangs holds one slot, not all of them.
        No delivery order: each unaccepted message is retried on its own
        backoff, so after a failure the recipient's next due message is tried at once, and a
        later message may be accepted before an earlier one that keeps failing."""
        skip = set(busy)
        found: list[StoredMessage] = []
        for row in self._db.execute(
            # The earliest due message of each recipient, from the covering index
            # messages_ready_by_person alone (a bare column beside SQLite's MIN() comes from
            # the row holding the minimum; about 10x cheaper than numbering every ready
            # message with ROW_NUMBER()); only the chosen messages' rows are read.
            "SELECT m.message_id, m.person_id, m.channel, m.kind, m.unit_code, m.alerts,"
            " m.attempts, m.first_alert_at FROM (SELECT message_id, MIN(next_attempt) AS first"
            " FROM messages WHERE state = 'ready' AND next_attempt <= ?"
            " GROUP BY person_id, channel) AS t JOIN messages AS m USING (message_id)"
            " ORDER BY t.first, t.message_id",
            (now.timestamp(),),
        ):
            if len(found) == limit:
                break
            if (row[1], row[2]) not in skip:
                found.append(StoredMessage(row[0], row[1], row[2], row[3], row[4],
                                           tuple(_decode_alerts(row[5])), row[6], row[7]))
        return found

    def record_outcomes(
        self,
        sent: Sequence[tuple[str, datetime]] = (),
        failed: Sequence[tuple[str, datetime, str]] = (),
        dropped: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Record attempts in one transaction: a message accepted by its channel (with its
        deliveries), one that failed (next attempt) and one nobody can receive any more.
        Marks are written in batches, so a crash may forget a few sent marks: those messages
        are sent again with their ids, which is what the ids are for."""
        if not (sent or failed or dropped):
            return
        with self._transaction() as db:
            db.executemany(
                "UPDATE messages SET state = 'sent', sent = ?, attempts = attempts + 1 "
                "WHERE message_id = ?",
                [(when.timestamp(), mid) for mid, when in sent],
            )
            db.executemany(
                "UPDATE deliveries SET state = 'sent' WHERE message_id = ?",
                [(mid,) for mid, _ in sent],
            )
            db.executemany(
                "UPDATE messages SET attempts = attempts + 1, next_attempt = ?, "
                "last_error = ? WHERE message_id = ?",
                [(when.timestamp(), error[:500], mid) for mid, when, error in failed],
            )
            db.executemany(
                "UPDATE messages SET state = 'dropped', last_error = ? WHERE message_id = ?",
                [(error[:500], mid) for mid, error in dropped],
            )

    # --- the morning digest ---------------------------------------------------------

    def last_morning(self) -> date | None:
        row = self._db.execute("SELECT MAX(day) FROM mornings").fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def open_alerts_by_unit(self) -> dict[str, list[Alert]]:
        found: dict[str, list[Alert]] = {}
        for unit, alert in self._db.execute(
            "SELECT unit_code, alert FROM open_alerts ORDER BY unit_code, at, dossier_id"
        ):
            found.setdefault(unit, []).append(_decode_alert(alert))
        return found

    def plan_morning(
        self, day: date, messages: Sequence[tuple[str, str, str, Sequence[Alert]]],
        now: datetime,
    ) -> None:
        """Record today's morning digest: (person, channel, unit, alerts) each a message."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO mornings VALUES (?)", (day.isoformat(),))
            for person_id, channel, unit_code, alerts in messages:
                mid = message_id(person_id, channel, [f"morning|{day}|{unit_code}"])
                first_at = now.timestamp()
                self._insert_message(
                    mid, person_id, channel, "morning", unit_code, alerts, now, first_at
                )

    # --- figures --------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """`digests`: the person × channel messages the waiting deliveries will make (waiting
        for their instant or behind the recipient's unaccepted message); `unsent`: messages
        not yet accepted by a channel; `failing`: the person × channel pairs with an
        unaccepted message that has failed at least once (a dropped one no longer counts)."""
        digests = self._db.execute(
            "SELECT COUNT(DISTINCT person_id || ' ' || channel) FROM deliveries "
            "WHERE state = 'waiting'"
        ).fetchone()[0]
        unsent, failing = self._db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT CASE WHEN attempts > 0 THEN person_id || ' ' || "
            "channel END) FROM messages WHERE state = 'ready'"
        ).fetchone()
        return {"digests": int(digests), "unsent": int(unsent), "failing": int(failing)}

    def deliveries(self, alert_id: str) -> list[tuple[str, str, str]]:
        """(person, channel, state) of one alert, for operators and tests."""
        return [
            (row[0], row[1], row[2])
            for row in self._db.execute(
                "SELECT person_id, channel, state FROM deliveries WHERE alert_id = ? "
                "ORDER BY person_id, channel",
                (alert_id,),
            )
        ]


"""`ClickHouseSink`: stores batches of facts and alerts with clickhouse-connect.

Exactness under re-delivery rests on the tables, not on luck: `dossier_facts` is a
ReplacingMergeTree keyed by (dossier_id, event_id) with `version`, `dossier_alerts` one keyed
by `alert_id`, and every reader uses FINAL. A fact or alert written twice, in any batch
boundaries, by the live sink or by `replay --store`, is counted once.

On top of that each insert carries `insert_deduplication_token` = topic/partition/offsets/
payload digest (the tables set `non_replicated_deduplication_window`), so the common crash
case — the same batch re-sent after a failed commit, or an insert retried after a timeout
although it had landed — does not even create a duplicate part. That token is an
optimisation only: after a restart the batch boundaries may differ, and then FINAL does
the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.sinks.base import BatchingSink, SinkBackpressureError, SinkBatch
from dossierflow.store import Store

log = logging.getLogger(__name__)

FACT_COLUMNS: tuple[str, ...] = tuple(DossierFact.__struct_fields__)
ALERT_COLUMNS: tuple[str, ...] = tuple(DossierAlert.__struct_fields__)

# Server errors that go away by themselves (overload, network, read-only replica, ...):
# the batch is offered again later. Anything else is a defect and must stop the sink.
TRANSIENT_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        319,  # UNKNOWN_STATUS_OF_INSERT
        425,  # SYSTEM_ERROR
        999,  # KEEPER_EXCEPTION
    }
)


def fact_columns(facts: Sequence[DossierFact]) -> list[list[Any]]:
    """Column-oriented values of `facts`, in `FACT_COLUMNS` order."""
    return [[getattr(fact, name) for fact in facts] for name in FACT_COLUMNS]


def alert_columns(alerts: Sequence[DossierAlert]) -> list[list[Any]]:
    """Column-oriented values of `alerts`, in `ALERT_COLUMNS` order."""
    return [
        [[(r.role, r.unit_code) for r in alert.recipients] for alert in alerts]
        if name == "recipients"
        else [getattr(alert, name) for alert in alerts]
        for name in ALERT_COLUMNS
    ]


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same insert later can succeed."""
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    if isinstance(exc, OperationalError | OSError | TimeoutError):
        return True
    return isinstance(exc, DatabaseError) and getattr(exc, "code", None) in TRANSIENT_CODES


class ClickHouseSink(BatchingSink[DossierFact | DossierAlert]):
    """Writes facts to `dossier_facts` and alerts to `dossier_alerts`, one insert per table."""

    def __init__(
        self,
        store: Store,
        *,
        retry_after: float = 1.0,
        is_transient: Callable[[BaseException], bool] = is_transient,
    ) -> None:
        self.store = store
        self.retry_after = retry_after
        self._is_transient = is_transient

    def write(self, batch: SinkBatch[DossierFact | DossierAlert]) -> None:
        facts = [r for r in batch.records if isinstance(r, DossierFact)]
        alerts = [r for r in batch.records if isinstance(r, DossierAlert)]
        if len(facts) + len(alerts) != len(batch.records):
            kinds = sorted({type(r).__name__ for r in batch.records})
            raise TypeError(f"ClickHouseSink stores DossierFact and DossierAlert, got {kinds}")
        token = batch.dedup_token
        try:
            if facts:
                self._insert("dossier_facts", fact_columns(facts), FACT_COLUMNS, token)
            if alerts:
                self._insert("dossier_alerts", alert_columns(alerts), ALERT_COLUMNS, token)
        except Exception as exc:
            if self._is_transient(exc):
                raise SinkBackpressureError(
                    self.retry_after, f"store {self.store.url.display}: {exc}"
                ) from exc
            raise

    def _insert(
        self, table: str, columns: list[list[Any]], names: Sequence[str], token: str
    ) -> None:
        self.store.client.insert(
            table,
            columns,
            column_names=list(names),
            column_oriented=True,
            settings={"insert_deduplication_token": token},
        )

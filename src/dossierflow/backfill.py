"""`replay --store`: write a replayed history through the same sink as the live stream.

Facts and alerts are the records the worker publishes (rules/records.py) and go through the
same `ClickHouseSink.write`, so a backfill from an export and the live stream end in the same
rows of the tables the report reads. Batches are cut at fixed record counts of the sorted
output, so a backfill run twice presents the same deduplication tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dossierflow.rules.catalog import Catalog
from dossierflow.rules.evaluation import Evaluation
from dossierflow.rules.records import alert_record, fact_records
from dossierflow.schemas.facts import DossierAlert, DossierFact, output_encoder
from dossierflow.sinks.base import SinkBatch, digest_payloads
from dossierflow.sinks.clickhouse import ClickHouseSink

BATCH_SIZE = 50_000


@dataclass
class BackfillResult:
    facts: int = 0
    alerts: int = 0
    batches: int = 0


def output_records(
    evaluations: Iterable[Evaluation], catalog: Catalog
) -> Iterator[DossierFact | DossierAlert]:
    for evaluation in evaluations:
        yield from fact_records(evaluation, catalog)
        for alert in evaluation.alerts:
            yield alert_record(alert, catalog)


def backfill(
    evaluations: Iterable[Evaluation], catalog: Catalog, sink: ClickHouseSink, source: str
) -> BackfillResult:
    """Write every fact and fired alert of `evaluations`; `source` names the batches."""
    result = BackfillResult()
    batch: list[DossierFact | DossierAlert] = []
    offset = 0

    def flush() -> None:
        nonlocal offset
        payloads = [output_encoder.encode(record) for record in batch]
        sink.write(
            SinkBatch(
                topic=f"backfill:{source}",
                partition=0,
                first_offset=offset,
                last_offset=offset + len(batch) - 1,
                records=list(batch),
                payload_digest=digest_payloads(payloads),
            )
        )
        offset += len(batch)
        result.batches += 1
        batch.clear()

    for record in output_records(evaluations, catalog):
        batch.append(record)
        if isinstance(record, DossierFact):
            result.facts += 1
        else:
            result.alerts += 1
        if len(batch) >= BATCH_SIZE:
            flush()
    if batch:
        flush()
    return result

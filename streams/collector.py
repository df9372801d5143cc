"""How the worker process sets Python's cyclic garbage collector.

A full collection scans every object the collector tracks, and the worker's heap is mostly
its kept folds and decoded records (up to `DOSSIERS_KEPT` dossiers of each, streams/state.py):
the more dossiers it holds, the longer each full collection. CPython's default thresholds
(700, 10, 10) ran one about every 10,000 events, because each event replaces some of the
long-lived objects (a dossier's record and fold) and the replacements count as new
long-lived ones: on 240,000 events (65,728 dossiers) the full collections took 0.05 s at the
start and 0.15–0.29 s each by the end, a sixth of the worker's CPU at the end of the run
(docs/benchmarks.md, *Worker*). The worker makes almost no cyclic garbage (its full
collections of that run found 690 objects in all; reference counting frees the rest), so
collecting the oldest generation ten times less often costs no memory worth counting.

Set by `dossierflow worker` as it starts (src/dossierflow/commands/worker.py), in its own
process only: importing this module changes nothing.
"""

from __future__ import annotations

import gc

FULL_COLLECTION_AFTER = 100
"""Collections of the middle generation before a full one (CPython's default: 10). CPython
also waits until a quarter more objects than the last full collection found have become
long-lived, as it always does."""


def defer_full_collections() -> None:
    """Collect the oldest generation after `FULL_COLLECTION_AFTER` collections of the middle
    one; the young generations keep their thresholds."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)

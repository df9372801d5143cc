"""The worker's setting of the garbage collector (streams/collector.py), checked in a
process of its own so that the tests' process keeps CPython's defaults."""

from __future__ import annotations

import subprocess
import sys

from dossierflow.streams.collector import FULL_COLLECTION_AFTER

CHECK = """
import gc
before = gc.get_threshold()
from dossierflow.streams.collector import defer_full_collections
imported = gc.get_threshold()
defer_full_collections()
print(before, imported, gc.get_threshold())
"""


def test_full_collections_are_deferred_only_once_asked_and_the_young_keep_theirs() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         check=True).stdout.split(") (")
    before, imported, after = (tuple(int(n) for n in part.strip("()\n").split(", "))
                               for part in out)
    assert imported == before  # importing the module changes nothing
    assert after == (*before[:2], FULL_COLLECTION_AFTER)
    assert before[2] < FULL_COLLECTION_AFTER

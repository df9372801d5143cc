"""A client of a running `dossierflow sink`'s HTTP endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from dossierflow.reporting.report import Report, ReportError, report_from_json
from dossierflow.store import StoreEmpty

FACTS_HEADER = "X-Dossierflow-Store-Facts"
"""Response header of the sink's `GET /report`: how many facts its store holds in all."""


def fetch_from_sink(
    sink_url: str, store_display: str, params: Mapping[str, str], timeout: float = 30.0
) -> tuple[Report | None, str]:
    """The report from a running sink serving `store_display`, or (None, why not)."""
    text, problem = fetch_text_from_sink(
        sink_url, store_display, {**params, "format": "json"}, timeout
    )
    return (report_from_json(json.loads(text)) if text is not None else None), problem


def fetch_text_from_sink(
    sink_url: str, store_display: str, params: Mapping[str, str], timeout: float = 30.0
) -> tuple[str | None, str]:
    """`GET /report?params` of a running sink serving `store_display` as text, or
    (None, why not)."""
    base = sink_url.rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2.0) as response:
            health = json.load(response)
    except urllib.error.HTTPError as exc:  # 503 while the sink's store is unreachable
        health = json.load(exc)
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if health.get("store") != store_display:
        return None, f"it serves {health.get('store')!r}, not {store_display!r}"
    query = urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(f"{base}/report?{query}", timeout=timeout) as response:
            if response.headers.get(FACTS_HEADER) == "0":
                raise StoreEmpty(
                    f"the store {store_display} served by the sink at {base} holds no facts at "
                    "all, so there is nothing to report; is the worker producing facts?"
                )
            return response.read().decode("utf-8"), ""
    except urllib.error.HTTPError as exc:
        detail = json.load(exc).get("error", exc.reason)
        raise ReportError(f"the sink at {base} refused the report: {detail}") from None

"""A client of a running `dossierflow sink`'s HTTP endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from dossierflow.reporting.report import Report, ReportError, report_from_json
from dossierflow.store import StoreEmpty

FACTS_HEADER = "X-Dossierflow-Store-Facts"
"""Response header of the sink's `GET /report`: how many facts its store holds in all."""


def fetch_from_sink(
    sink_url: str,
    store_display: str,
    params: Mapping[str, str],
    timeout: float = 30.0,
    token: str | None = None,
) -> tuple[Report | None, str]:
    """The report from a running sink serving `store_display`, or (None, why not); `token`
    is the sink's bearer token (DOSSIERFLOW_SINK_TOKEN), sent when given."""
    text, problem = fetch_text_from_sink(
        sink_url, store_display, {**params, "format": "json"}, timeout, token
    )
    return (report_from_json(json.loads(text)) if text is not None else None), problem


def fetch_text_from_sink(
    sink_url: str,
    store_display: str,
    params: Mapping[str, str],
    timeout: float = 30.0,
    token: str | None = None,
) -> tuple[str | None, str]:
    """`GET /report?params` of a running sink serving `store_display` as text, or
    (None, why not); `token` as for `fetch_from_sink`."""
    base = sink_url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(path: str, seconds: float) -> Any:
        return urllib.request.urlopen(
            urllib.request.Request(f"{base}{path}", headers=headers), timeout=seconds
        )

    try:
        with get("/healthz", 2.0) as response:
            health = json.load(response)
    except urllib.error.HTTPError as exc:  # 503 while the sink's store is unreachable
        health = json.load(exc)
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if "store" not in health:
        return None, "it names its store only to callers with its token (DOSSIERFLOW_SINK_TOKEN)"
    if health.get("store") != store_display:
        return None, f"it serves {health.get('store')!r}, not {store_display!r}"
    query = urllib.parse.urlencode(params)
    try:
        with get(f"/report?{query}", timeout) as response:
            if response.headers.get(FACTS_HEADER) == "0":
                raise StoreEmpty(
                    f"the store {store_display} served by the sink at {base} holds no facts at "
                    "all, so there is nothing to report; is the worker producing facts?"
                )
            return response.read().decode("utf-8"), ""
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        try:
            detail = json.loads(body).get("error", exc.reason)
        except ValueError:  # the guard's refusals are plain text
            detail = body.strip() or exc.reason
        raise ReportError(f"the sink at {base} refused the report: {detail}") from None

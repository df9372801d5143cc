"""Build deploy/grafana/dashboards/province.json and run its panels outside Grafana.

    python -m devtools.grafana_panels     # rewrites province.json from PANELS

Used by tests/test_grafana_dashboard.py and devtools/bench_clickhouse.py.
The panel SQL lives here once; the JSON is generated from it so the two cannot drift, and
`expand_macros` substitutes the time macros of the `grafana-clickhouse-datasource` plugin
exactly as its backend does (pkg/macros/macros.go): `$__fromTime` -> `toDateTime(<unix s>)`,
`$__toTime_ms` -> `fromUnixTimestamp64Milli(<unix ms>)`, `$__timeFilter(c)` ->
`c >= toDateTime(..) AND c <= toDateTime(..)`.

Grafana's ranges end inclusively (an absolute day range or "this year" ends at 23:59:59.999),
so the panels treat the range as whole local days: from the local date of `from` through the
local date of `to`, i.e. the report period [date(from), date(to) + 1 day).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy/grafana/dashboards/province.json"
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "dossierflow-clickhouse"}
TZ = "'Asia/Ho_Chi_Minh'"
FIRST_DAY = f"toDate($__fromTime, {TZ})"
LAST_DAY = f"toDate($__toTime, {TZ})"
# The pre-aggregated report (migration 008): a few hundred thousand day x unit rows instead of
# every dossier, as of its last refresh (every minute).
REPORT = (
    f"bi_period_report_daily(period_from = toString({FIRST_DAY}), "
    f"period_to = toString({LAST_DAY} + 1))"
)
ROLLUP_READERS = ("bi_period_report_daily", "bi_unit_daily")
"""The views over the rollup `unit_day_changes` (as of its last refresh, every minute)."""
ROLLUP_LAG = (
    "Số liệu từ bảng tổng hợp, tính lại mỗi phút: có thể chậm khoảng một phút so với báo cáo "
    "(`dossierflow report`). / Figures from the rollup, rebuilt every minute: up to about a "
    "minute behind the report (`dossierflow report`). Lần tính gần nhất, lỗi nếu có / last "
    "refresh and its error if it failed: `SELECT as_of, status, error FROM bi_rollup_freshness`."
)
"""The description of every panel that reads the rollup."""


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str
    """Grafana panel type: timeseries, barchart, bargauge, stat or table."""
    sql: str
    columns: tuple[str, ...]
    """The columns the SQL returns, in order (checked by tests/test_grafana_dashboard.py)."""

    @property
    def description(self) -> str:
        return ROLLUP_LAG if any(view in self.sql for view in ROLLUP_READERS) else ""


PROGRESS_766 = (
    f"bi_progress_766(period_from = toString({FIRST_DAY}), "
    f"period_to = toString(least(toDateTime({LAST_DAY} + 1, {TZ}), toDateTime(now(), {TZ}))), "
    "apology_appointment = 'synced', max_supplements = 1)"
)
"""The 766 index of the range's days, judged now while the range is not over (docs/domain.md),
with the portal's settings (`dossierflow report --index 766` follows DOSSIERFLOW_INDEX766_*)."""

PANELS: tuple[Panel, ...] = (
    Panel(
        "Tỷ lệ đúng hạn theo đơn vị / On-time rate by unit",
        "bargauge",
        f"""SELECT
    unit_code,
    resolved_early + resolved_on_time AS in_time,
    resolved_overdue AS overdue,
    on_time_rate
FROM {REPORT}
WHERE on_time_rate IS NOT NULL
ORDER BY on_time_rate, unit_code""",
        ("unit_code", "in_time", "overdue", "on_time_rate"),
    ),
    Panel(
        "Tiếp nhận và giải quyết theo tuần / Received and resolved per week",
        "timeseries",
        f"""SELECT
    toDateTime(toMonday(day), {TZ}) AS time,
    sum(received) AS received_count,
    sum(resolved_early + resolved_on_time + resolved_overdue) AS resolved_count
FROM bi_unit_daily
WHERE day BETWEEN {FIRST_DAY} AND {LAST_DAY}
GROUP BY time
ORDER BY time""",
        ("time", "received_count", "resolved_count"),
    ),
    Panel(
        "Hồ sơ quá hạn đang giải quyết theo đơn vị / Overdue backlog by unit",
        "barchart",
        f"""SELECT unit_code, in_progress_overdue, in_progress
FROM {REPORT}
WHERE in_progress_overdue > 0
ORDER BY in_progress_overdue DESC, unit_code""",
        ("unit_code", "in_progress_overdue", "in_progress"),
    ),
    Panel(
        "Tỷ lệ tiếp nhận trực tuyến / Online share",
        "stat",
        f"""SELECT
    sum(received_online) AS online,
    sum(received) AS all_channels,
    round(online / nullIf(all_channels, 0), 4) AS online_share
FROM {REPORT}""",
        ("online", "all_channels", "online_share"),
    ),
    Panel(
        "Thủ tục trễ hạn nhiều nhất / Procedures most often late",
        "table",
        f"""SELECT
    procedure_code,
    count() AS resolved_count,
    countIf(outcome = 'OVERDUE') AS overdue,
    round(overdue / resolved_count, 4) AS overdue_rate
FROM bi_dossiers
WHERE status IN ('RESOLVED', 'RETURNED')
    AND toDate(resolved_at) BETWEEN {FIRST_DAY} AND {LAST_DAY}
GROUP BY procedure_code
HAVING overdue > 0
ORDER BY overdue DESC, procedure_code
LIMIT 10""",
        ("procedure_code", "resolved_count", "overdue", "overdue_rate"),
    ),
    Panel(
        "Cảnh báo theo ngày / Alerts per day",
        "timeseries",
        f"""SELECT toDateTime(toDate(at), {TZ}) AS time, kind, count() AS alerts
FROM bi_alerts
WHERE toDate(at) BETWEEN {FIRST_DAY} AND {LAST_DAY}
GROUP BY time, kind
ORDER BY time, kind""",
        ("time", "kind", "alerts"),
    ),
    Panel(
        "Báo cáo kỳ theo đơn vị / Period report by unit",
        "table",
        f"""SELECT *
FROM {REPORT}
ORDER BY unit_code""",
        (
            "unit_code", "carried_over", "received", "received_online", "received_in_person",
            "received_postal", "resolved_early", "resolved_on_time", "resolved_overdue",
            "withdrawn", "stopped", "in_progress", "in_progress_overdue", "apologies",
            "unknown_procedure", "on_time_rate", "online_rate",
        ),
    ),
    Panel(
        "Chỉ số 766 – tiến độ giải quyết theo đơn vị / Decision 766 progress by unit",
        "table",
        f"""SELECT
    unit_code,
    received,
    on_time,
    overdue,
    score,
    at_risk,
    round(20 * (on_time - at_risk) / received, 2) AS score_if_at_risk_overdue,
    round(processing_days / nullIf(completed, 0), 2) AS average_days
FROM {PROGRESS_766}
ORDER BY score DESC, unit_code""",
        ("unit_code", "received", "on_time", "overdue", "score", "at_risk",
         "score_if_at_risk_overdue", "average_days"),
    ),
)

_MACRO = re.compile(r"\$__(\w+)(?:\(([^)]*)\))?")


def expand_macros(sql: str, start: datetime, end: datetime) -> str:
    """`sql` with the plugin's time macros for the range [start, end] (aware datetimes)."""
    seconds = {"from": int(start.timestamp()), "to": int(end.timestamp())}
    millis = {"from": int(start.timestamp() * 1000), "to": int(end.timestamp() * 1000)}

    def expand(match: re.Match[str]) -> str:
        name, argument = match.group(1), match.group(2)
        if name == "fromTime":
            return f"toDateTime({seconds['from']})"
        if name == "toTime":
            return f"toDateTime({seconds['to']})"
        if name == "fromTime_ms":
            return f"fromUnixTimestamp64Milli({millis['from']})"
        if name == "toTime_ms":
            return f"fromUnixTimestamp64Milli({millis['to']})"
        if name == "timeFilter" and argument:
            return (f"{argument} >= toDateTime({seconds['from']}) AND "
                    f"{argument} <= toDateTime({seconds['to']})")
        raise ValueError(f"macro $__{name} is not expanded here; add it to expand_macros")

    return _MACRO.sub(expand, sql)


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard model (schemaVersion 39) of `PANELS`."""
    panels = []
    for number, panel in enumerate(PANELS):
        width = 24 if panel.kind == "table" and panel.columns[0] == "unit_code" else 12
        panels.append({
            "id": number + 1,
            "type": panel.kind,
            "title": panel.title,
            "description": panel.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": 9, "w": width, "x": (number % 2) * 12 if width == 12 else 0,
                        "y": (number // 2) * 9},
            "fieldConfig": {"defaults": {"unit": "percentunit"} if panel.kind == "bargauge"
                            else {}, "overrides": []},
            "options": {},
            "targets": [{
                "refId": "A",
                "datasource": DATASOURCE,
                "editorType": "sql",
                "queryType": "timeseries" if panel.kind == "timeseries" else "table",
                "format": 0 if panel.kind == "timeseries" else 1,
                "rawSql": panel.sql,
            }],
        })
    return {
        "uid": "dossierflow-province",
        "title": "Tỉnh: tình hình giải quyết hồ sơ TTHC / Province dossiers",
        "tags": ["dossierflow"],
        "timezone": "Asia/Ho_Chi_Minh",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "5m",
        "time": {"from": "now/y", "to": "now"},
        "panels": panels,
        "templating": {"list": []},
        "annotations": {"list": []},
    }


if __name__ == "__main__":
    DASHBOARD.write_text(json.dumps(dashboard(), ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {DASHBOARD}")

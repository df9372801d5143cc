"""The built-in web dashboard, served by the sink beside `GET /report`.

For offices without a BI team: the period report, charts of the on-time rate, the weekly
trend and the overdue backlog by unit, and a page per unit listing its open dossiers at risk
or overdue. Vietnamese by default, English with `lang=en`; nothing is loaded from outside the
process (offices may be offline): charts are SVG drawn on the server.

    charts.py    pure functions: figures -> SVG
    views.py     pure functions: report, counts, open dossiers -> what each part shows
    pages.py     views -> HTML (Jinja2 templates in templates/)
    handlers.py  the aiohttp routes and JSON endpoints (the only part that queries)
"""

"""A store URL's password is never printed, however the URL is mistyped: real commands."""

from __future__ import annotations

import pytest

from dossierflow.config import mask_url
from tests.test_store import cli

SECRET = "S3cret-pw"
MISTYPED = [
    f"htps://admin:{SECRET}@clickhouse.internal:8123/dossierflow",
    f"http//admin:{SECRET}@clickhouse.internal:8123/dossierflow",
    f"http:admin:{SECRET}@clickhouse.internal:8123/dossierflow",
    f"http://admin:{SECRET}@clickhouse.internal:80x/dossierflow",
    f"http://admin:{SECRET}@clickhouse.internal:8123/dossier-flow",
    f"http://admin/{SECRET}@clickhouse.internal:8123/dossierflow",
    f"http://admin:{SECRET}@:8123/dossierflow",
]


@pytest.mark.parametrize("url", MISTYPED)
def test_a_mistyped_store_url_is_refused_without_its_password(url: str) -> None:
    done = cli("migrate", "--store", url)
    assert done.returncode != 0
    assert "store URL" in done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("url", MISTYPED[:3])
def test_the_configuration_shows_a_mistyped_store_url_without_its_password(url: str) -> None:
    done = cli("config", env={"DOSSIERFLOW_CLICKHOUSE_URL": url})
    assert done.returncode == 0, done.stderr
    assert "DOSSIERFLOW_CLICKHOUSE_URL" in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_a_well_formed_url_keeps_everything_but_the_password() -> None:
    assert mask_url(f"https://bi:{SECRET}@ch:8443/db") == "https://bi:***@ch:8443/db"
    assert mask_url("chdb:///srv/dossierflow@2026") == "chdb:///srv/dossierflow@2026"

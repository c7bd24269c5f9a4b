"""``zakaz bootstrap``: the warehouse's database, tables, views and, on a server, its users and grants."""

from __future__ import annotations

import argparse

from zakaz_pipeline.settings import ConfigError, Settings, server_access


def bootstrap_command(args: argparse.Namespace) -> int:
    """Admin credentials come from CLICKHOUSE_ADMIN_URL (else CLICKHOUSE_URL); users' passwords
    from CLICKHOUSE_ETL_PASSWORD, CLICKHOUSE_DATALENS_PASSWORD, CLICKHOUSE_BACKUP_PASSWORD (or *_FILE),
    their networks from CLICKHOUSE_ETL_NETWORKS / CLICKHOUSE_DATALENS_NETWORKS; the TLS pair
    ClickHouse serves (CLICKHOUSE_TLS_CERT / _KEY) is checked when set. Any of these wrong: exit 2."""
    from zakaz_pipeline.warehouse.bootstrap import BootstrapError, bootstrap
    from zakaz_pipeline.warehouse.connection import WarehouseConfigError, parse_target

    settings = Settings.from_env(need_secrets=False)
    url = settings.clickhouse_admin_url or settings.clickhouse_url
    cluster = settings.clickhouse_cluster
    try:
        target = parse_target(url, settings.clickhouse_database)
        lines = bootstrap(
            target, server_access(), cluster=cluster, timezone=settings.timezone, rotate_passwords=args.rotate_passwords
        )
    except (BootstrapError, WarehouseConfigError) as exc:
        message = str(exc).replace("CLICKHOUSE_URL", "CLICKHOUSE_ADMIN_URL / CLICKHOUSE_URL")
        if "CLICKHOUSE_" not in message:  # a server that does not answer: name what points at it
            message = f"CLICKHOUSE_ADMIN_URL / CLICKHOUSE_URL: {message}"
        raise ConfigError(message) from None
    print(f"bootstrap of {target.describe()}" + (f" on cluster {cluster}" if cluster else ""))
    print("\n".join(f"  {line}" for line in lines))
    return 0

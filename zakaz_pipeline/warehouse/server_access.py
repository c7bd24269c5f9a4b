"""What ``zakaz bootstrap`` gives the server's users beyond the warehouse's address: their
passwords and networks, and the TLS pair ClickHouse serves. ``settings.server_access`` reads
the variables into a ``ServerAccess``; ``bootstrap.py`` checks what the values mean (CIDRs,
widths, the certificate), naming the variable each came from. Kept apart from bootstrap so
that reading settings loads no driver."""

from __future__ import annotations

from dataclasses import dataclass, field

PASSWORD_VARIABLES = ("CLICKHOUSE_ETL_PASSWORD", "CLICKHOUSE_DATALENS_PASSWORD", "CLICKHOUSE_BACKUP_PASSWORD")
NETWORK_VARIABLES = ("CLICKHOUSE_ETL_NETWORKS", "CLICKHOUSE_DATALENS_NETWORKS")
TLS_CERT, TLS_KEY = "CLICKHOUSE_TLS_CERT", "CLICKHOUSE_TLS_KEY"
MIN_USER_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class ServerAccess:
    """Passwords and network lists by variable (a network list as written; ``""``: the user's
    defaults), and the problems met reading them (a password file that cannot be read)."""

    passwords: dict[str, str] = field(repr=False)
    networks: dict[str, str]
    allow_wide_networks: bool
    tls_cert: str
    tls_key: str
    problems: tuple[str, ...] = ()

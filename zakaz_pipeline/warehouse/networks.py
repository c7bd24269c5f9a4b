"""How wide the networks a ClickHouse user may connect from may be: the one rule
``zakaz bootstrap`` applies to ``CLICKHOUSE_DATALENS_NETWORKS`` / ``CLICKHOUSE_ETL_NETWORKS``
and the warehouse-access check applies to what the server holds.

The rule: no single range wider than a /8, and not all of IPv4 together. An IPv6 range is
judged by the IPv4 addresses it reaches too, because ClickHouse matches an IPv4 client as
``::ffff:a.b.c.d``: ``::ffff:0:0/96`` (or ``::/0``) is all of IPv4, however narrow it looks as
IPv6. A /8 (16.7 million addresses) is as wide as a private range gets (10.0.0.0/8) and far
wider than any published client range (DataLens's are /28s); ``0.0.0.0/1,128.0.0.0/1`` is the
whole internet written in two halves. ``CLICKHOUSE_ALLOW_WIDE_NETWORKS=1`` lifts the rule for
a deployment that means it (a server reachable only through a VPN, say).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

ALLOW_WIDE_NETWORKS = "CLICKHOUSE_ALLOW_WIDE_NETWORKS"
WIDEST_PREFIX = 8
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
ALL_IPV4 = ipaddress.IPv4Network("0.0.0.0/0")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def ipv4_reach(network: Network) -> ipaddress.IPv4Network | None:
    """The IPv4 addresses ``network`` lets connect, as one IPv4 network (None: none)."""
    if isinstance(network, ipaddress.IPv4Network):
        return network
    if IPV4_MAPPED.subnet_of(network):
        return ALL_IPV4
    if network.subnet_of(IPV4_MAPPED):
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    return None


def width_problems(networks: Iterable[str]) -> list[str]:
    """What makes ``networks`` (CIDRs; any that does not parse is left to the caller) too
    wide, one line each; empty when they keep to the rule."""
    parsed = []
    for text in networks:
        try:
            parsed.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue
    problems = [problem for network in parsed if (problem := _too_wide(network))]
    reached = [reach for network in parsed if (reach := ipv4_reach(network)) is not None]
    if not problems and list(ipaddress.collapse_addresses(reached)) == [ALL_IPV4]:
        problems.append(f"{', '.join(map(str, parsed))} together let all of IPv4 connect")
    return problems


def _too_wide(network: Network) -> str:
    reach = ipv4_reach(network)
    if network.prefixlen == 0:
        return f"{network} lets every address connect"
    if reach is network and network.prefixlen < WIDEST_PREFIX:
        return f"{network} is wider than a /{WIDEST_PREFIX} ({network.num_addresses:,} addresses)"
    if reach is not None and reach.prefixlen < WIDEST_PREFIX:
        return f"{network} reaches IPv4's {reach}, wider than a /{WIDEST_PREFIX} ({reach.num_addresses:,} addresses)"
    if reach is None and network.prefixlen < WIDEST_PREFIX:
        return f"{network} is wider than a /{WIDEST_PREFIX}"
    return ""

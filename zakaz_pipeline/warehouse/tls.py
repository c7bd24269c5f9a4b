"""The certificate ClickHouse serves on 8443, checked before ``zakaz bootstrap`` reports success.

DataLens connects over HTTPS only and refuses a certificate no public CA signed. A wrong
path in ``.env`` is worse than an error: Docker creates a missing bind-mount source as an
empty directory, and ClickHouse then serves no HTTPS at all. So when ``CLICKHOUSE_TLS_CERT``
and ``CLICKHOUSE_TLS_KEY`` are set (compose mounts the pair ClickHouse gets into the
``user_code`` container as well), each must be a readable PEM file, the key must belong to
the certificate, and a client trusting the public CAs (Python's default context, the
system's store — what DataLens trusts too) must accept the chain. The last two checks run
an in-memory TLS handshake with :mod:`ssl`; nothing is sent anywhere. Messages name the
variable and the path, never the key's content.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from zakaz_pipeline.warehouse.server_access import TLS_CERT as CERT_ENV
from zakaz_pipeline.warehouse.server_access import TLS_KEY as KEY_ENV

_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----")
_KEY = re.compile(r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----")
_ENCRYPTED_KEY = re.compile(r"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")


def certificate_problems(cert: str, key: str) -> list[str]:
    """The pair's problems, naming ``CLICKHOUSE_TLS_CERT`` / ``_KEY``; nothing to check when
    neither is set (plain HTTP, or TLS terminated elsewhere)."""
    if not cert and not key:
        return []
    if not cert or not key:
        given, missing = (CERT_ENV, KEY_ENV) if cert else (KEY_ENV, CERT_ENV)
        return [f"{missing} must be set together with {given} (the certificate chain and its private key)"]
    problems = [
        problem
        for problem in (_file_problem(CERT_ENV, cert, "certificate"), _file_problem(KEY_ENV, key, "key"))
        if problem
    ]
    if problems:
        return problems
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        server.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        return [f"{KEY_ENV} ({key}) is not the private key of the certificate in {CERT_ENV} ({cert}): {_reason(exc)}"]
    refused = _refusal(server)
    if refused:
        advice = "use a certificate a public CA signed, with its chain (Let's Encrypt's fullchain.pem)"
        return [f"{CERT_ENV} ({cert}) would be refused by DataLens: {refused}; {advice}"]
    return []


def _file_problem(name: str, path: str, kind: str) -> str:
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return f"{name} ({path}) does not exist"
    except IsADirectoryError:
        return f"{name} ({path}) is a directory, not a PEM file (Docker creates a missing mount source as one)"
    except PermissionError:
        return f"{name} ({path}) cannot be read: permission denied"
    except OSError as exc:
        return f"{name} ({path}) cannot be read ({exc.strerror})"
    if kind == "certificate" and not _CERTIFICATE.search(text):
        return f"{name} ({path}) holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    if kind == "key" and _ENCRYPTED_KEY.search(text):
        return f"{name} ({path}) is encrypted with a passphrase; ClickHouse needs the unencrypted key (privkey.pem)"
    if kind == "key" and not _KEY.search(text):
        return f"{name} ({path}) holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
    return ""


def _refusal(server: ssl.SSLContext) -> str:
    """Why a client trusting the public CAs would refuse this server's certificate; "" if it accepts.

    The host name is not checked: bootstrap cannot know the public name DataLens will use."""
    client = ssl.create_default_context()
    client.check_hostname = False
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, to_server)
    server_side = server.wrap_bio(to_server, to_client, server_side=True)
    done = {"client": False, "server": False}
    server_error = ""
    for _ in range(8):
        for name, side in (("client", client_side), ("server", server_side)):
            if done[name]:
                continue
            try:
                side.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as exc:
                return exc.verify_message or _reason(exc)
            except ssl.SSLError as exc:
                if name == "client":
                    return _reason(exc)
                server_error, done[name] = _reason(exc), True  # the client may still say why
        if all(done.values()):
            return server_error
    return "the TLS handshake did not complete"


def _reason(exc: ssl.SSLError) -> str:
    return (exc.reason or str(exc)).replace("_", " ").lower()

"""``host:port`` listen addresses (the metrics endpoint), loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import re

from auditd.errors import ConfigError

__all__ = ["LOOPBACK", "check_listen_address", "split_listen_address"]

LOOPBACK = "127.0.0.1"
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*$")
_FORMS = "PORT (loopback), HOST:PORT or [IPv6]:PORT, e.g. 9464 or 127.0.0.1:9464"


def split_listen_address(text: str) -> tuple[str, int]:
    """``(host, port)`` of an address :func:`check_listen_address` accepted;
    a bare port means the loopback address."""
    if text.isdigit():
        return LOOPBACK, int(text)
    host, _, port = text.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def check_listen_address(key: str, text: str) -> str:
    """Return ``text`` stripped if it is a listen address (empty: none);
    ConfigError naming ``key`` otherwise."""
    text = text.strip()
    if not text:
        return text
    if text.isdigit():
        port_text, host = text, LOOPBACK
    else:
        host, separator, port_text = text.rpartition(":")
        if not separator or not host:
            raise ConfigError(f"{key} must be {_FORMS}, got: {text!r}")
        bracketed = host.startswith("[") and host.endswith("]")
        if ":" in host and not bracketed:
            raise ConfigError(f"{key}: write an IPv6 address in brackets, got: {text!r}", _FORMS)
        host = host[1:-1] if bracketed else host
        if not _is_ip(host) and (bracketed or not _HOST_NAME.match(host)):
            raise ConfigError(f"{key} has an invalid host {host!r}", _FORMS)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"{key} needs a port from 1 to 65535, got: {text!r}", _FORMS)
    return text


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

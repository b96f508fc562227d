"""The SSRF guard: which addresses the dispatcher may send tasks to.

A target must match the operator's allow-list (`CONVEYOR_PUSH_ALLOW`, patterns such as
`https://*.example.com/*,http://127.0.0.1:*`). Private, loopback, link-local (cloud
metadata at 169.254.169.254 among them) and other non-public addresses are refused even
then, unless the matching pattern names the host itself, without a wildcard: an operator
who writes `http://127.0.0.1:*` means it, one who writes `https://*` does not.

The check runs twice. When a queue is configured, on the URL as written (an IP literal
is judged there and then). At dispatch, after DNS resolution: every address the name
resolves to is judged, and the dispatcher connects to the address it checked, so a name
that resolves to a public address at check time and a private one at connect time (DNS
rebinding) gets nowhere.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from conveyor.errors import ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
SPECIAL_NAMES = ("localhost", "metadata.google.internal", "metadata")
"""Names that mean an internal address whatever DNS says."""
_WILDCARDS = "*?["


class TargetRefused(ConfigurationError):
    """The target URL is not allowed by the push allow-list (CONVEYOR_PUSH_ALLOW)."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One allow-list entry: scheme, host glob, port (None: the scheme's default; "*": any)
    and path glob."""

    text: str
    scheme: str
    host: str
    port: str | None
    path: str

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """
        >>> Pattern.parse("http://127.0.0.1:*")
        Pattern(text='http://127.0.0.1:*', scheme='http', host='127.0.0.1', port='*', path='*')
        """
        raw = text.strip()
        scheme, sep, rest = raw.partition("://")
        if not sep or scheme not in ("http", "https", "*"):
            raise ConfigurationError(
                f"push allow-list entry {raw!r} must look like https://*.example.com/* "
                "(scheme http or https)"
            )
        authority, slash, path = rest.partition("/")
        host, port = _split_port(authority)
        if not host:
            raise ConfigurationError(f"push allow-list entry {raw!r} has no host")
        if port is not None and port != "*" and not port.isdigit():
            raise ConfigurationError(f"push allow-list entry {raw!r}: port must be a number or *")
        return cls(raw, scheme, host.lower(), port, "/" + path if slash else "*")

    @property
    def names_host(self) -> bool:
        """True when the host is written out, without wildcards: it is meant explicitly."""
        return not any(c in self.host for c in _WILDCARDS)

    def matches(self, scheme: str, host: str, port: int, path: str) -> bool:
        if self.scheme not in ("*", scheme):
            return False
        if not fnmatch.fnmatchcase(host, self.host) and not _same_address(host, self.host):
            return False
        if self.port is None:
            if port != DEFAULT_PORTS[scheme]:
                return False
        elif self.port != "*" and int(self.port) != port:
            return False
        return fnmatch.fnmatchcase(path or "/", self.path)


@dataclass(frozen=True, slots=True)
class AllowList:
    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def parse(cls, value: str | Iterable[str] | None) -> AllowList:
        """From `"a,b"` or a list of patterns; empty entries are skipped."""
        if value is None:
            return cls()
        items = value.split(",") if isinstance(value, str) else list(value)
        return cls(tuple(Pattern.parse(item) for item in items if item.strip()))

    def __str__(self) -> str:
        return ",".join(p.text for p in self.patterns) or "(empty)"

    def match(self, url: str) -> Pattern:
        """The first pattern allowing `url`, or TargetRefused saying why none does."""
        scheme, host, port, path = _parts(url)
        if not self.patterns:
            raise TargetRefused(
                f"target {url!r} is refused: the push allow-list is empty; set "
                "CONVEYOR_PUSH_ALLOW (or push_allow= / --push-allow) to URL patterns "
                "such as https://*.example.com/*"
            )
        for pattern in self.patterns:
            if pattern.matches(scheme, host, port, path):
                return pattern
        raise TargetRefused(
            f"target {url!r} is refused: it matches no pattern of the push allow-list ({self})"
        )

    def check_configured(self, url: str) -> None:
        """At configuration: the URL as written must be allowed, and an internal host
        (an IP literal or a name such as localhost) must be named explicitly."""
        pattern = self.match(url)
        host = _parts(url)[1]
        address = _address(host)
        internal = not _is_public(address) if address is not None else _special(host)
        if internal and not pattern.names_host:
            raise TargetRefused(_internal_message(url, host, pattern))

    def check_addresses(self, url: str, addresses: Sequence[IPAddress]) -> None:
        """At dispatch: every address the host resolved to must be allowed."""
        pattern = self.match(url)
        host = _parts(url)[1]
        if pattern.names_host:
            return
        for address in addresses:
            if not _is_public(address):
                raise TargetRefused(_internal_message(url, f"{host} ({address})", pattern))
        if _special(host):
            raise TargetRefused(_internal_message(url, host, pattern))

    async def resolve(self, url: str) -> IPAddress:
        """Resolve the target's host, check every address, and return the one to connect
        to. Raises TargetRefused (allow-list) or OSError (resolution)."""
        _, host, port, _ = _parts(url)
        literal = _address(host)
        if literal is not None:
            self.check_addresses(url, [literal])
            return literal
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise OSError(f"{host} resolved to no address")
        self.check_addresses(url, addresses)
        return addresses[0]


def _internal_message(url: str, host: str, pattern: Pattern) -> str:
    return (
        f"target {url!r} is refused: {host} is a private, loopback, link-local or "
        f"metadata address, allowed only when an allow-list entry names it without "
        f"wildcards (it matched {pattern.text!r})"
    )


def _parts(url: str) -> tuple[str, str, int, str]:
    refused = TargetRefused(f"target {url!r} is refused: not an http(s) URL with a host")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise refused from None
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise refused
    return parts.scheme, host.lower(), port or DEFAULT_PORTS[parts.scheme], parts.path


def _split_port(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    host, sep, port = authority.rpartition(":")
    return (host, port) if sep else (authority, None)


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _same_address(host: str, pattern_host: str) -> bool:
    a, b = _address(host), _address(pattern_host)
    return a is not None and a == b


def _special(host: str) -> bool:
    return host.rstrip(".") in SPECIAL_NAMES or host.endswith(".localhost")


def _is_public(address: IPAddress) -> bool:
    """`is_global` excludes private, loopback, link-local, shared (100.64/10), reserved and
    documentation ranges; IPv4 carried in IPv6 is judged as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_public(mapped)
    return address.is_global and not address.is_multicast

"""The address policy every outbound connection of a built-in action goes through (SPEC §8).

**Check.** The target's host is resolved once (an IP literal is its own address) and only the
allowed addresses among the answers are used, in the resolver's order. Allowed: a global unicast
address, or one inside the allow-list. Private (RFC 1918, ULA), loopback, link-local (the cloud
metadata address 169.254.169.254 among them), multicast, unspecified, reserved, shared
(100.64/10) and benchmarking ranges are refused, and so are IPv6 forms that embed a refused IPv4
address (mapped, 6to4, NAT64, Teredo). The allow-list is the union of the action's environment
variable (``FLOWPIN_HTTP_ALLOW`` for ``http.request``, ``FLOWPIN_SMTP_ALLOW`` for
``email.send``: comma-separated addresses or CIDR networks such as ``127.0.0.1,10.0.0.0/8``,
read at call time) and what the process configured.

**Pin.** The connection goes to an address that was checked; the name is never resolved a
second time (no DNS rebinding between the check and the connection).

**Fail the same way.** A target the policy refuses, a name that does not resolve, a closed
port and one that does not answer (filtered) all raise the same ``Unreachable``: one message and
one ``data`` for a given host and port, retryable, so a workflow cannot map a network by the
errors it gets. The real reason is logged (logger ``flowpin.security``) for the operator.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from flowpin.errors import FlowpinError

__all__ = [
    "Address",
    "AddressPolicy",
    "AllowListInvalid",
    "Network",
    "Resolver",
    "Unreachable",
    "address_allowed",
    "parse_network",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Iterable[str]] | Iterable[str]]
"""``(host, port) -> addresses`` (IP literals); tests map names to loopback with one. Async
resolvers serve only async callers (``http.request``)."""

log = logging.getLogger("flowpin.security")


class AllowListInvalid(FlowpinError):
    code = "config.invalid"


class Unreachable(FlowpinError):
    """The target cannot be reached. ``message`` and ``details`` depend only on the action,
    host and port - not on why (``reason``, which is only logged)."""

    code = "action.unreachable"

    def __init__(self, action: str, host: str, port: int, allow_env: str, reason: str) -> None:
        shown = f"[{host}]" if ":" in host else host
        super().__init__(
            f"{action}: cannot reach {shown}:{port} (the address policy refused it, or nothing "
            f"answered there; private, loopback and link-local addresses need {allow_env})",
            details={"reason": "unreachable", "host": host, "port": port},
        )
        self.reason = reason


def parse_network(entry: str, where: str) -> Network:
    try:
        return ipaddress.ip_network(str(entry).strip(), strict=False)
    except ValueError:
        raise AllowListInvalid(
            f"{where}: {entry!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
        ) from None


@lru_cache(maxsize=16)
def _env_allow(name: str, text: str) -> tuple[Network, ...]:
    return tuple(parse_network(entry, name) for entry in text.split(",") if entry.strip())


def address_allowed(address: Address, allow: Iterable[Network] = ()) -> bool:
    """Whether a built-in may connect to ``address``: inside ``allow``, or a global unicast
    address that embeds no refused IPv4 address."""
    plain = _unwrap(address)
    for network in allow:
        if any(a.version == network.version and a in network for a in {address, plain}):
            return True
    return all(_is_public(candidate) for candidate in _embedded(address))


def _unwrap(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded(address: Address) -> list[Address]:
    """The address and every IPv4 address an IPv6 one carries."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_public(address: Address) -> bool:
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


def ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class AddressPolicy:
    """The policy of one action: its name (for messages), the environment variable of its
    allow-list, networks the process allows besides, and an optional resolver."""

    action: str
    allow_env: str
    allow: tuple[Network, ...] = ()
    resolver: Resolver | None = None

    def configured(
        self, *, allow: Iterable[str] | None = None, resolver: Resolver | None = None
    ) -> AddressPolicy:
        """A copy with ``allow`` (addresses or CIDR networks) and/or ``resolver`` replaced."""
        changes: dict[str, Any] = {}
        if allow is not None:
            changes["allow"] = tuple(parse_network(entry, "allow") for entry in allow)
        if resolver is not None:
            changes["resolver"] = resolver
        return replace(self, **changes) if changes else self

    def networks(self) -> tuple[Network, ...]:
        """The allow-list now: the configured networks plus the environment variable's."""
        return self.allow + _env_allow(self.allow_env, os.environ.get(self.allow_env, ""))

    def allowed(self, address: Address) -> bool:
        return address_allowed(address, self.networks())

    def unreachable(self, host: str, port: int, reason: str) -> Unreachable:
        """The one error for every way a target cannot be reached; logs the real reason."""
        log.warning("%s: %s port %s unreachable: %s", self.action, host, port, reason)
        return Unreachable(self.action, host, port, self.allow_env, reason)

    # ------------------------------------------------------------------ resolving

    async def addresses(self, host: str, port: int) -> list[Address]:
        """The allowed addresses of ``host``, in the resolver's order (async callers)."""
        literal = ip_literal(host)
        if literal is not None:
            return self._keep_allowed(host, port, [literal])
        try:
            if self.resolver is not None:
                found = self.resolver(host, port)
                if inspect.isawaitable(found):
                    found = await found
                names = list(found)
            else:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
                names = [str(info[4][0]) for info in infos]
        except (OSError, UnicodeError, ValueError) as exc:
            raise self.unreachable(host, port, f"cannot resolve: {exc}") from None
        return self._keep_allowed(host, port, _parse_all(names))

    def addresses_sync(self, host: str, port: int) -> list[Address]:
        """The allowed addresses of ``host`` (blocking callers, such as smtplib's thread)."""
        literal = ip_literal(host)
        if literal is not None:
            return self._keep_allowed(host, port, [literal])
        try:
            if self.resolver is not None:
                found = self.resolver(host, port)
                if inspect.isawaitable(found):
                    if inspect.iscoroutine(found):
                        found.close()
                    raise TypeError(f"{self.action} needs a synchronous resolver")
                names = list(found)
            else:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                names = [str(info[4][0]) for info in infos]
        except (OSError, UnicodeError, ValueError) as exc:
            raise self.unreachable(host, port, f"cannot resolve: {exc}") from None
        return self._keep_allowed(host, port, _parse_all(names))

    def _keep_allowed(self, host: str, port: int, resolved: list[Address]) -> list[Address]:
        if not resolved:
            raise self.unreachable(host, port, "resolves to no address")
        allowed = [address for address in resolved if self.allowed(address)]
        if not allowed:
            raise self.unreachable(
                host,
                port,
                f"refused by the address policy ({', '.join(map(str, resolved))} not allowed; "
                f"allow with {self.allow_env})",
            )
        return allowed

    # ------------------------------------------------------------------ connecting

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to the first allowed address of ``host`` that accepts one, within
        ``timeout`` seconds in all; ``Unreachable`` when none does."""
        deadline = time.monotonic() + timeout
        failures: list[str] = []
        for address in self.addresses_sync(host, port):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                failures.append(f"{address}: no time left")
                break
            try:
                return socket.create_connection((str(address), port), timeout=remaining)
            except OSError as exc:
                failures.append(f"{address}: {type(exc).__name__}: {exc}")
        raise self.unreachable(host, port, "; ".join(failures) or "no address")


def _parse_all(names: Iterable[str]) -> list[Address]:
    addresses: list[Address] = []
    for name in names:
        address = ipaddress.ip_address(str(name).split("%", 1)[0])  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    return addresses

"""Where webhooks may be sent (SSRF): an endpoint's URL checked when it is made, and the
addresses its host resolves to vetted again before every delivery, which then connects to one
of exactly those addresses (no second lookup a rebinding DNS server could answer differently).

`allow_private` (WEBHOOK_ALLOW_PRIVATE_TARGETS, development and tests only) lets plain http and
private, loopback and other internal addresses through.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import SplitResult, urlsplit

from domain.errors import InvalidInput

MAX_URL = 2000
FIELD = "input.url"
# Cloud instance metadata (AWS, GCP, Azure, ...; AWS's IPv6 one): credentials live there.
METADATA = frozenset({ip_address("169.254.169.254"), ip_address("fd00:ec2::254")})
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
NAT64 = ip_network("64:ff9b::/96")

IPAddress = IPv4Address | IPv6Address


class Refused(Exception):
    """The target is not one deliveries may go to; trying again will not change that."""


def refusal(ip: IPAddress) -> str | None:
    """Why nothing may be sent to this address; None for a public one."""
    if isinstance(ip, IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and (reason := refusal(embedded)) is not None:
            return reason
    if ip in METADATA:
        return "a cloud metadata address"
    checks = (
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("an unspecified", ip.is_unspecified),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a reserved", ip.is_reserved),
    )
    for kind, applies in checks:
        if applies:
            return f"{kind} address"
    return None if ip.is_global else "not a public address"


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def check_url(url: str, allow_private: bool) -> SplitResult:
    """The endpoint URL, parsed, or InvalidInput naming input.url: https (http too when
    private targets are allowed), a host, no credentials, a bounded length, and no literal
    address deliveries would refuse."""
    if not url or len(url) > MAX_URL:
        raise InvalidInput(f"A URL of 1 to {MAX_URL} characters", FIELD)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidInput("A URL has no spaces or control characters", FIELD)
    schemes = ("https", "http") if allow_private else ("https",)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        raise InvalidInput("Not a URL", FIELD) from None
    if parts.scheme not in schemes:
        raise InvalidInput("Webhook URLs must be https://", FIELD)
    if not parts.hostname:
        raise InvalidInput("The URL has no host", FIELD)
    if "@" in parts.netloc:
        raise InvalidInput("The URL may not carry a user name or password", FIELD)
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise InvalidInput("The URL's host is not a valid name", FIELD) from None
    if not allow_private:
        host = parts.hostname
        if host == "localhost" or host.endswith(".localhost"):
            raise InvalidInput(f"{host} is a loopback address", FIELD)
        literal = _literal(host)
        if literal is not None and (reason := refusal(literal)) is not None:
            raise InvalidInput(f"{literal} is {reason}", FIELD)
    return parts


async def addresses(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    """The addresses to connect to, every one of them vetted: Refused when any is internal
    (a name that resolves to both is refused whole). OSError when the name does not resolve."""
    literal = _literal(host)
    if literal is not None:
        found = [literal]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # An IPv6 address may come with its zone ("fe80::1%eth0"): the address is before it.
        found = list(dict.fromkeys(ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not found:
            raise OSError(f"{host} has no addresses")
    if not allow_private:
        for ip in found:
            if (reason := refusal(ip)) is not None:
                named = f"{host} resolves to {ip}, " if literal is None else f"{ip} is "
                raise Refused(f"refused: {named}{reason}")
    return found

"""Connections to hosts that users name (workflow URLs, team webhooks): resolved once, checked, pinned.

The name is resolved once and the connection goes to the address that was checked, whatever the
name resolves to by then (a name can answer a public address for the check and a private one for
the connection: DNS rebinding); TLS still names the host (SNI) and checks its certificate against it.
"""
import http.client
import ipaddress
import socket


class PrivateAddress(ValueError):
    """The host resolves to no public address."""


def is_literal(host: str) -> bool:
    """Tell whether host is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_public(address: str) -> bool:
    """Tell whether an IP address is a public one: not loopback, private, link-local or reserved."""
    return ipaddress.ip_address(address.split("%", 1)[0]).is_global


def public_address(host: str, port: int, *, private_ok: bool = False) -> str:
    """Return the first address host resolves to that is public (any, with private_ok); raise PrivateAddress
    naming what it resolved to when none is (OSError when it does not resolve)."""
    addresses = [sockaddr[0] for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for address in addresses:
        if private_ok or is_public(address):
            return address
    raise PrivateAddress(f"{host} resolves to {', '.join(dict.fromkeys(addresses))}: a private, loopback or "
                     "link-local address")


class _Pinned:
    def connect(self):
        self.sock = socket.create_connection((self.pinned_address, self.port), self.timeout)
        if isinstance(self, http.client.HTTPSConnection):
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


class _HTTP(_Pinned, http.client.HTTPConnection):
    pass


class _HTTPS(_Pinned, http.client.HTTPSConnection):
    pass


def pinned_connection(scheme: str, host: str, port: int, address: str, *, timeout: float) -> http.client.HTTPConnection:
    """Return an unopened HTTP(S) connection to host that connects to address."""
    connection = (_HTTPS if scheme == "https" else _HTTP)(host, port, timeout=timeout)
    connection.pinned_address = address
    return connection

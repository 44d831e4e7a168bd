"""Webhooks never reach inside: internal addresses are refused when an endpoint is made (a
literal address) and before every delivery (whatever the host resolves to then), and the
connection goes to the address that was checked. Host names are made to resolve where a test
needs by replacing the resolver (socket.getaddrinfo, which asyncio's lookups call)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.db import Database
from infra.settings import Settings, SettingsError, WebhookSettings
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import Background, GraphQLClient, make_tutor
from tests.integrations.test_webhooks import ENDPOINT, PING, create_hook

NAMES = {
    "internal.test": ["10.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "loop6.test": ["::1"],
    "mixed.test": ["93.184.216.34", "10.0.0.1"],
}


def resolving(names: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make `names` resolve to their addresses (others as usual); the names looked up."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(str(host))
        if host not in names:
            return real(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, int(port), 0, 0) if ":" in ip else (ip, int(port)),
            )
            for ip in names[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/in", "127.0.0.1 is a loopback address"),
        ("https://10.0.0.1/in", "10.0.0.1 is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"),
        ("https://[::1]/in", "::1 is a loopback address"),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("https://[::ffff:10.0.0.1]/in", "::ffff:a00:1 is a private address"),
        ("https://0.0.0.0/in", "0.0.0.0 is an unspecified address"),
        ("https://localhost/in", "localhost is a loopback address"),
        ("http://hooks.example.com/in", "Webhook URLs must be https://"),
    ],
)
async def test_an_internal_literal_address_is_refused_when_the_endpoint_is_made(
    strict_gql: GraphQLClient, url: str, says: str
) -> None:
    ada = await make_tutor(strict_gql, "ada")
    made = await create_hook(strict_gql, ada, url, ["BOOKING_CREATED"])
    assert (made["__typename"], made["field"]) == ("InvalidInput", "input.url")
    assert says in made["message"]


async def test_a_public_address_is_accepted(strict_gql: GraphQLClient) -> None:
    ada = await make_tutor(strict_gql, "ada")
    made = await create_hook(strict_gql, ada, "https://93.184.216.34/in", ["BOOKING_CREATED"])
    assert made["__typename"] == "WebhookEndpointCreated"


async def test_every_delivery_refuses_what_the_host_resolves_to_inside(
    hook_gql: GraphQLClient,
    strict_settings: Settings,
    db: Database,
    receiver: FakeReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolving(NAMES, monkeypatch)
    ada = await make_tutor(hook_gql, "ada")
    port = receiver.port
    # Made where private targets are allowed; delivered where they are not (as when the
    # setting is turned off, or a name that resolved outside now resolves inside).
    expected = {
        f"https://127.0.0.1:{port}/a": "refused: 127.0.0.1 is a loopback address",
        "https://10.0.0.1/b": "refused: 10.0.0.1 is a private address",
        "https://169.254.169.254/c": "refused: 169.254.169.254 is a cloud metadata address",
        "https://[::1]/d": "refused: ::1 is a loopback address",
        f"https://localhost:{port}/e": "refused: localhost resolves to ",
        "https://internal.test/f": "refused: internal.test resolves to 10.0.0.1, a private",
        "https://metadata.test/g": "refused: metadata.test resolves to 169.254.169.254, a cloud",
        "https://loop6.test/h": "refused: loop6.test resolves to ::1, a loopback address",
        "https://mixed.test/i": "refused: mixed.test resolves to 10.0.0.1, a private address",
        f"http://127.0.0.1:{port}/j": "refused: webhook URLs must be https://",
    }
    ids = {}
    for url in expected:
        made = await create_hook(hook_gql, ada, url, ["BOOKING_CREATED"])
        ids[url] = made["endpoint"]["id"]
        await hook_gql(PING, {"id": ids[url]}, ada.token)
    await Background(strict_settings, db).run()

    assert receiver.received == []
    for url, says in expected.items():
        found = (await hook_gql(ENDPOINT, {"id": ids[url]}, ada.token))["node"]
        [delivery] = found["deliveries"]
        assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1), url
        assert delivery["error"].startswith(says), (url, delivery["error"])
        assert delivery["responseStatus"] is None
    localhost = (await hook_gql(ENDPOINT, {"id": ids[f"https://localhost:{port}/e"]}, ada.token))[
        "node"
    ]
    assert "a loopback address" in localhost["deliveries"][0]["error"]


async def test_the_connection_goes_to_the_address_that_was_checked(
    hook_gql: GraphQLClient,
    receiver: FakeReceiver,
    deliveries: Background,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebinding DNS server answers differently the second time: there is no second time."""
    ada = await make_tutor(hook_gql, "ada")
    url = receiver.url("/pinned", host="rebind.test")
    made = await create_hook(hook_gql, ada, url, ["BOOKING_CREATED"])
    receiver.secrets["/pinned"] = made["secret"]
    await hook_gql(PING, {"id": made["endpoint"]["id"]}, ada.token)
    asked: list[str] = []
    monkeypatch.setattr(
        socket, "getaddrinfo", _once(socket.getaddrinfo, "rebind.test", "127.0.0.1", asked)
    )
    await deliveries.run()

    [got] = receiver.at("/pinned")
    assert (got.error, got.type) == (None, "ping")
    assert got.headers["host"] == f"rebind.test:{receiver.port}"
    assert asked == ["rebind.test"]


def _once(real: Any, name: str, ip: str, asked: list[str]) -> Any:
    """`name` resolves to `ip` once; every later lookup of it fails."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        asked.append(str(host))
        if len(asked) > 1:
            raise socket.gaierror(socket.EAI_NONAME, "rebound")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port)))]

    return getaddrinfo


def _tls_server(folder: Path, names: list[str]) -> socket.socket:
    """A TLS server on loopback with a self-signed certificate, noting the name (SNI) each
    client asks for; its handshakes fail, since no client trusts that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rebind.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("rebind.test")]), False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    context.sni_callback = lambda _socket, name, _context: names.append(str(name))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with contextlib.suppress(OSError), connection:
                context.wrap_socket(connection, server_side=True).close()

    threading.Thread(target=serve, daemon=True).start()
    return listener


async def test_tls_names_the_host_and_checks_its_certificate_on_the_pinned_address(
    hook_gql: GraphQLClient,
    deliveries: Background,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    names: list[str] = []
    listener = _tls_server(tmp_path, names)
    try:
        ada = await make_tutor(hook_gql, "ada")
        port = listener.getsockname()[1]
        made = await create_hook(
            hook_gql, ada, f"https://rebind.test:{port}/in", ["BOOKING_CREATED"]
        )
        pinged = await hook_gql(PING, {"id": made["endpoint"]["id"]}, ada.token)
        asked: list[str] = []
        monkeypatch.setattr(
            socket, "getaddrinfo", _once(socket.getaddrinfo, "rebind.test", "127.0.0.1", asked)
        )
        await deliveries.run()
    finally:
        listener.close()
    assert asked == ["rebind.test"]
    assert names == ["rebind.test"]  # SNI: the host's name, though we dialled 127.0.0.1
    found = (await hook_gql(ENDPOINT, {"id": made["endpoint"]["id"]}, ada.token))["node"]
    [delivery] = found["deliveries"]
    assert delivery["id"] == pinged["pingWebhookEndpoint"]["delivery"]["id"]
    assert (delivery["status"], delivery["attempts"]) == ("PENDING", 1)
    assert "CERTIFICATE_VERIFY_FAILED" in delivery["error"]


def test_the_development_setting_is_off_unless_set_and_checked() -> None:
    assert Settings.from_env({}).webhooks == WebhookSettings(False, 10)
    on = Settings.from_env(
        {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_TIMEOUT_SECONDS": "3"}
    )
    assert on.webhooks == WebhookSettings(True, 3)
    for env in ({"WEBHOOK_ALLOW_PRIVATE_TARGETS": "sometimes"}, {"WEBHOOK_TIMEOUT_SECONDS": "0"}):
        with pytest.raises(SettingsError, match=next(iter(env))):
            Settings.from_env(env)

"""The client address of the per-address limits: what the trusted proxies wrote, never
what the client wrote. Through the real configurable-http-proxy, clients at two loopback
addresses spoof X-Real-Ip and X-Forwarded-For; and the parsing itself, as a table."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from requests.adapters import HTTPAdapter
from tornado import httpserver, web
from tornado.httpclient import AsyncHTTPClient
from tornado.httputil import HTTPHeaders
from tornado.netutil import bind_sockets

from hub_extension.accounts.client import canonical, client_address, peer_address, pick
from tests.hub_extension.conftest import Browser, own_accounts_hub


class FromAddress(HTTPAdapter):
    """Connections from a source address of our choice (any 127.x.y.z is this machine)."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(hub, source: str) -> Browser:
    """A browser coming through the proxy from `source`."""
    browser = Browser(hub)
    browser.session.mount("http://", FromAddress(source))
    return browser


spoofs = (f"10.66.{i // 250}.{i % 250}" for i in itertools.count())


def try_once(browser: Browser, **headers) -> int:
    browser.session.cookies.clear()
    # the same headers on both: JupyterHub ties an anonymous _xsrf to tornado's remote_ip
    browser.get("hub/login", headers=headers)
    return browser.post("hub/try", headers=headers, allow_redirects=False).status_code


@pytest.fixture(scope="module")
def proxied_hub(tmp_path_factory, mailbox, oidc_provider, stand_in):
    # try_limit is 4/h in the tests' config; nothing else here reaches this hub
    with own_accounts_hub(tmp_path_factory.mktemp("spoof-hub"), smtp_port=mailbox.port, oidc=oidc_provider,
                          stand_in=stand_in) as hub:
        yield hub


def test_a_client_spoofing_headers_still_meets_its_own_limit(proxied_hub):
    browser = client_at(proxied_hub, "127.0.0.2")
    answers = [try_once(browser, **{"X-Real-Ip": next(spoofs), "X-Forwarded-For": f"{next(spoofs)}, {next(spoofs)}"})
               for _ in range(5)]
    assert answers == [302, 302, 302, 302, 429]
    # nor does spoofing another client's address, or a header per line, get past it
    assert try_once(browser, **{"X-Forwarded-For": "127.0.0.3", "X-Real-Ip": "127.0.0.3"}) == 429


def test_a_client_cannot_lock_others_out_and_two_addresses_keep_separate_limits(proxied_hub):
    victim, attacker = client_at(proxied_hub, "127.0.0.4"), client_at(proxied_hub, "127.0.0.5")
    # the attacker claims to be the victim until its own limit stops it
    claims = [try_once(attacker, **{"X-Forwarded-For": "127.0.0.4", "X-Real-Ip": "127.0.0.4"}) for _ in range(5)]
    assert claims == [302, 302, 302, 302, 429]
    # the victim, a different real address, has all four of its own
    assert [try_once(victim) for _ in range(4)] == [302, 302, 302, 302]
    assert try_once(victim) == 429


def test_the_proxy_appends_the_real_peer(proxied_hub):
    """What the limits rely on, checked against the real proxy: the last X-Forwarded-For
    entry the hub gets is the address the client connected from."""
    log = proxied_hub.workdir / "hub.log"
    browser = client_at(proxied_hub, "127.0.0.6")
    assert try_once(browser, **{"X-Forwarded-For": "198.51.100.7"}) == 302
    lines = [line for line in log.read_text().splitlines() if "Trial account" in line]
    assert lines[-1].endswith(" for 127.0.0.6"), lines[-1]


@pytest.mark.parametrize("chain, peer, hops, expected", [
    ([], "127.0.0.1", 1, "127.0.0.1"),                                   # no proxy wrote anything: the peer
    (["203.0.113.9"], "127.0.0.1", 1, "203.0.113.9"),                    # what CHP appended
    (["6.6.6.6", "203.0.113.9"], "127.0.0.1", 1, "203.0.113.9"),         # the client's own entry is ignored
    (["6.6.6.6", "203.0.113.9", "10.0.0.2"], "127.0.0.1", 2, "203.0.113.9"),  # an ingress, then CHP
    (["203.0.113.9"], "127.0.0.1", 2, "203.0.113.9"),                    # fewer entries than hops: the oldest
    (["6.6.6.6"], "192.0.2.1", 0, "192.0.2.1"),                          # hops 0: the socket's peer only
    (["not-an-address"], "127.0.0.1", 1, "127.0.0.1"),                   # garbage is not a key
    (["::ffff:203.0.113.9"], "::1", 1, "203.0.113.9"),                   # Node's dual-stack spelling
], ids=["nothing", "chp", "client-entry", "ingress", "short", "direct", "garbage", "mapped"])
def test_the_address_is_the_last_trusted_hop(chain, peer, hops, expected):
    assert canonical(pick(chain, peer, hops)) == expected


def test_ipv6_clients_are_keyed_by_their_64():
    assert canonical("2001:db8:1:2:aaaa::1") == canonical("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert canonical("2001:db8:1:3::1") != canonical("2001:db8:1:2::1")


def request_with(headers: dict, peer=("127.0.0.1", 4242)):
    import socket

    context = SimpleNamespace(address=peer, address_family=socket.AF_INET)
    return SimpleNamespace(request=SimpleNamespace(headers=HTTPHeaders(headers), connection=SimpleNamespace(
        context=context)), authenticator=SimpleNamespace(trusted_proxy_hops=1))


def test_x_real_ip_is_never_read_and_header_lines_are_joined():
    handler = request_with({"X-Real-Ip": "6.6.6.6"})
    assert client_address(handler) == "127.0.0.1"
    headers = HTTPHeaders()
    headers.add("X-Forwarded-For", "6.6.6.6")
    headers.add("X-Forwarded-For", "203.0.113.9")
    handler.request.headers = headers
    assert client_address(handler) == "203.0.113.9"
    assert client_address(handler, hops=2) == "6.6.6.6"


async def test_tornado_still_keeps_the_socket_peer_where_peer_address_reads_it():
    """peer_address reads tornado's private request context; this fails when that moves."""
    seen = {}

    class Echo(web.RequestHandler):
        def get(self):
            seen["peer"], seen["remote_ip"] = peer_address(self.request), self.request.remote_ip

    [sock] = bind_sockets(0, "127.0.0.1")
    server = httpserver.HTTPServer(web.Application([("/", Echo)]), xheaders=True)  # as JupyterHub starts it
    server.add_sockets([sock])
    try:
        await AsyncHTTPClient().fetch(f"http://127.0.0.1:{sock.getsockname()[1]}/", headers={"X-Real-Ip": "6.6.6.6"})
    finally:
        server.stop()
    assert seen == {"peer": "127.0.0.1", "remote_ip": "6.6.6.6"}

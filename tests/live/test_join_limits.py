"""Join limits that fit schools: a class behind one NAT joins at once, guessing codes does not pay,
and the client address is the one Google's load balancer saw, whatever the client claims.

Time stands still in each test (tests/conftest.py), so every request falls in one window."""

import pytest
from django.test import Client, RequestFactory

from sessions.models import Student
from tests.conftest import Api
from web import ratelimit

LOAD_BALANCER = "34.117.10.20"  # the forwarding rule's address, which Google appends last
GFE = "35.191.1.2"  # the load balancer's proxy that connects to the pod


def joiner(remote_addr: str, forwarded_for: str | None = None) -> Api:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Api(client=Client(**extra))


def join_status(api: Api, code: str, name: str = "S") -> int:
    return api.post("/api/join", {"join_code": code, "display_name": name}).status_code


def wrong_code(n: int) -> str:
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(alphabet[(n // 31**i) % 31] for i in range(6))


def test_a_class_of_thirty_behind_one_school_address_joins_within_a_minute(live_session):
    school = joiner("198.51.100.7")
    statuses = [join_status(school, live_session.join_code, f"Student {n}") for n in range(30)]
    assert statuses == [201] * 30
    assert Student.objects.filter(session=live_session).count() == 30


def test_four_classes_behind_one_school_address_join_in_the_same_minute(teacher, deck):
    from live import services

    school = joiner("198.51.100.7")
    for _class in range(4):
        session, _key = services.create_session(teacher=teacher, deck=deck)
        session = services.start_session(session=session)
        assert [join_status(school, session.join_code, f"S{n}") for n in range(30)] == [201] * 30


def test_a_thousand_wrong_codes_from_one_ipv6_64_are_refused_after_the_limit(live_session, settings):
    limit = settings.RATE_LIMITS["join_failed"][0]
    statuses = []
    for n in range(1000):
        # Every attempt from another address of the same /64.
        statuses.append(join_status(joiner(f"2001:db8:7:9::{n + 1:x}"), wrong_code(n)))
    assert statuses[:limit] == [404] * limit
    assert statuses[limit:] == [429] * (1000 - limit)
    # The right code from that network waits too (its answer would tell a guesser the code is right)...
    assert join_status(joiner("2001:db8:7:9::ffff"), live_session.join_code) == 429
    # ...while the next /64 and an IPv4 school are not held back.
    assert join_status(joiner("2001:db8:7:a::1"), live_session.join_code, "Next network") == 201
    assert join_status(joiner("198.51.100.7"), live_session.join_code, "School") == 201


def test_wrong_codes_from_many_networks_are_held_to_an_overall_rate(live_session, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "join_failed_all": (50, 60)}
    # A school in session: its students joined earlier.
    assert join_status(joiner("198.51.100.7"), live_session.join_code, "Early") == 201
    # Guessers on 100 addresses, three wrong codes each: past 50 wrong codes overall, only networks
    # someone joined from may join until the minute is over.
    statuses = [
        join_status(joiner(f"203.0.113.{network}"), wrong_code(network * 3 + attempt))
        for network in range(1, 101)
        for attempt in range(3)
    ]
    assert statuses.count(404) == 50
    assert statuses[50:] == [429] * (len(statuses) - 50)
    assert join_status(joiner("203.0.113.1"), live_session.join_code) == 429
    assert join_status(joiner("192.0.2.200"), live_session.join_code, "Newcomer") == 429
    # The school in session joins on.
    assert join_status(joiner("198.51.100.7"), live_session.join_code, "School") == 201


def test_joins_with_one_code_are_limited_per_code(live_session, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "join_code": (40, 60)}
    statuses = [
        join_status(joiner(f"198.51.100.{n % 200 + 1}"), live_session.join_code, f"S{n}") for n in range(45)
    ]
    assert statuses == [201] * 40 + [429] * 5


@pytest.mark.parametrize("trusted", [0, 2])
def test_a_spoofed_x_forwarded_for_changes_nothing(live_session, settings, trusted):
    """Each request claims another address to the left of what our proxies wrote (or, with no
    trusted proxies, anywhere): all of them still count against the one real client."""
    settings.TRUSTED_PROXY_COUNT = trusted
    limit = settings.RATE_LIMITS["join_failed"][0]
    statuses = []
    for n in range(limit + 5):
        spoof = f"10.{n}.0.1, 192.0.2.{n + 1}"
        real = f"{spoof}, 198.51.100.7, {LOAD_BALANCER}" if trusted else spoof
        statuses.append(join_status(joiner(GFE if trusted else "198.51.100.7", real), wrong_code(n)))
    assert statuses == [404] * limit + [429] * 5


def test_behind_google_s_two_entry_header_the_client_s_own_address_is_used(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().post(
        "/api/join", REMOTE_ADDR=GFE, HTTP_X_FORWARDED_FOR=f"203.0.113.50, {LOAD_BALANCER}"
    )
    assert ratelimit.client_address(request) == "203.0.113.50"
    # With something the client sent itself in front, and a port on the client's entry.
    request.META["HTTP_X_FORWARDED_FOR"] = f"1.2.3.4, [2001:db8::5]:4711, {LOAD_BALANCER}"
    assert ratelimit.client_address(request) == "2001:db8::5"
    assert ratelimit.client_network(request) == "2001:db8::/64"
    # A request that did not come through the balancer (one entry) counts as its socket's peer.
    request.META["HTTP_X_FORWARDED_FOR"] = "203.0.113.50"
    assert ratelimit.client_address(request) == GFE


def test_the_deployed_proxy_settings_pick_the_client_not_the_load_balancer(rendered_config):
    """The overlays' TRUSTED_PROXY_COUNT applied to the header Google's load balancer sends."""
    request = RequestFactory().post(
        "/api/join", REMOTE_ADDR=GFE, HTTP_X_FORWARDED_FOR=f"6.6.6.6, 203.0.113.50, {LOAD_BALANCER}"
    )
    for overlay, config in rendered_config.items():
        from django.test import override_settings

        with override_settings(TRUSTED_PROXY_COUNT=int(config["TRUSTED_PROXY_COUNT"])):
            assert ratelimit.client_address(request) == "203.0.113.50", overlay


def test_addresses_group_by_network():
    assert ratelimit.network_of("198.51.100.7") == "198.51.100.7"
    assert ratelimit.network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ratelimit.network_of("::ffff:198.51.100.7") == "198.51.100.7"
    assert ratelimit.network_of("unknown") == "unknown"


@pytest.fixture
def rendered_config():
    import shutil

    import yaml

    from tests.deploy.conftest import OVERLAYS, render_overlay

    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.fail("kubectl is required: install kubectl (with its built-in kustomize) on PATH")
    configs = {}
    for overlay in OVERLAYS:
        objects = [o for o in yaml.safe_load_all(render_overlay(kubectl, overlay)) if o]
        (config,) = [
            o["data"]
            for o in objects
            if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("peardeck-config-")
        ]
        configs[overlay] = config
    return configs

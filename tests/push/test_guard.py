"""The SSRF guard: the allow-list at configuration and again, after DNS, at dispatch."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

import pytest

from conveyor import ConfigurationError, Conveyor, Status
from conveyor.core.task import Task
from conveyor.push.executor import pinned, sni
from conveyor.push.guard import AllowList, TargetRefused
from tests.push.conftest import RunningDispatcher
from tests.push.receiver import Receiver
from tests.waiting import wait_until


def test_a_target_outside_the_allow_list_is_refused_naming_url_and_list(store_url: str) -> None:
    app = Conveyor(store_url, push_allow="https://*.example.com/*")
    with pytest.raises(ConfigurationError) as refused:
        app.queue("hooks", target="https://evil.test/steal")
    message = str(refused.value)
    assert "'https://evil.test/steal'" in message
    assert "matches no pattern" in message
    assert "https://*.example.com/*" in message
    assert app.queue_settings("hooks").target is None  # nothing stored
    app.close()


def test_an_empty_allow_list_refuses_every_target_and_says_how_to_allow(store_url: str) -> None:
    app = Conveyor(store_url, push_allow="")
    with pytest.raises(ConfigurationError, match="CONVEYOR_PUSH_ALLOW"):
        app.queue("hooks", target="https://svc.example.com/")
    app.close()


def test_the_allow_list_comes_from_the_environment(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_PUSH_ALLOW", "https://svc.example.com/*")
    app = Conveyor(store_url)
    settings = app.queue("hooks", target="https://svc.example.com/tasks/{type}")
    assert settings.target is not None
    app.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://127.0.0.1:8080/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:8080/",
        "http://metadata.google.internal/",
    ],
)
def test_a_private_address_is_refused_behind_a_wildcard(url: str) -> None:
    allow = AllowList.parse("http://*:*,http://*/*,http://*")
    with pytest.raises(TargetRefused, match="private, loopback, link-local or metadata"):
        allow.check_configured(url)


def test_a_private_address_is_allowed_when_named_explicitly() -> None:
    AllowList.parse("http://127.0.0.1:*").check_configured("http://127.0.0.1:9000/x")
    AllowList.parse("http://10.0.0.5/*").check_configured("http://10.0.0.5/hook")
    AllowList.parse("http://[::1]:*").check_configured("http://[::1]:9000/")


def test_patterns_match_scheme_port_and_path() -> None:
    allow = AllowList.parse("https://*.example.com/hooks/*")
    allow.check_configured("https://a.example.com/hooks/x")
    for url in (
        "http://a.example.com/hooks/x",  # scheme
        "https://a.example.com:8443/hooks/x",  # not the default port
        "https://a.example.com/admin",  # path
        "https://example.com.evil.test/hooks/x",  # host
    ):
        with pytest.raises(TargetRefused):
            allow.check_configured(url)


def test_a_bad_pattern_is_named() -> None:
    with pytest.raises(ConfigurationError, match="'ftp://x'"):
        AllowList.parse("ftp://x")


def test_every_resolved_address_is_checked() -> None:
    allow = AllowList.parse("https://*.example.com/*")
    public = ipaddress.ip_address("93.184.216.34")
    private = ipaddress.ip_address("10.1.2.3")
    allow.check_addresses("https://a.example.com/", [public])
    with pytest.raises(TargetRefused, match=r"10\.1\.2\.3"):
        allow.check_addresses("https://a.example.com/", [public, private])


def test_dns_resolution_is_checked_before_connecting() -> None:
    # localhost resolves to loopback: behind a wildcard that is refused after resolution.
    with pytest.raises(TargetRefused, match="localhost"):
        asyncio.run(AllowList.parse("http://*:*").resolve("http://localhost:9/"))
    address = asyncio.run(AllowList.parse("http://localhost:*").resolve("http://localhost:9/"))
    assert address.is_loopback


def test_the_connection_goes_to_the_checked_address_with_the_original_host_for_tls() -> None:
    checked = ipaddress.ip_address("93.184.216.34")
    url = pinned("https://svc.example.com:8443/t?x=1", checked)
    assert str(url) == "https://93.184.216.34:8443/t?x=1"
    assert sni("https://svc.example.com/t") == {"sni_hostname": "svc.example.com"}
    assert sni("http://svc.example.com/t") == {}


def test_the_dispatcher_refuses_a_target_that_resolves_to_a_private_address(
    store_url: str,
    receiver: Callable[..., Receiver],
    dispatch: Callable[..., RunningDispatcher],
) -> None:
    hook = receiver()
    # Configured under an allow-list naming localhost; the dispatcher's list only has a
    # wildcard, so after resolving localhost to 127.0.0.1 it must refuse to connect.
    app = Conveyor(store_url, push_allow="http://localhost:*")
    url = f"http://localhost:{hook.port}/in"
    app.queue("hooks", target=url, max_attempts=1)
    handle = app.enqueue("probe", queue="hooks", kwargs={})
    dispatch(allow="http://*:*")

    def failed() -> Task | None:
        task = app.get(handle.id)
        return task if task.status is Status.FAILED else None

    task = wait_until(failed, timeout=20)
    assert "is refused" in task.errors[0]["error"]
    assert hook.at("/in") == []
    app.close()

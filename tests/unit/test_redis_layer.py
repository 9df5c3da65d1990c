"""The Redis layer without a server: URL forms, the `redis:` section and the deprecated keys, clients, hash tags."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from gateway.cache.redis_backend import RedisBackend
from gateway.cli import main
from gateway.config import Config, ConfigError, parse_config
from gateway.redis import settings
from gateway.redis.client import connect
from gateway.redis.leases import Leases
from gateway.redis.link import Link, tagged
from gateway.redis.settings import PREFIXES, Endpoint
from gateway.redis.url import RedisURLError, parse_url

REPO = Path(__file__).resolve().parent.parent.parent
SECRET = "s3cr@t/pw"
# Every form, each with a password where the form has one.
FORMS = [
    "redis://:s3cr%40t%2Fpw@10.0.0.5:6379/2",
    "rediss://user:s3cr%40t%2Fpw@redis.example.net:6380/0?ssl_cert_reqs=none",
    "unix://:s3cr%40t%2Fpw@/run/redis/redis.sock?db=1",
    "redis+sentinel://:s3cr%40t%2Fpw@s1:26379,s2:26380,[::1]/mymaster/3",
    "rediss+sentinel://:s3cr%40t%2Fpw@s1,s2/mymaster?sentinel_password=s3cr%40t%2Fpw",
    "redis+cluster://:s3cr%40t%2Fpw@n1:7000,n2:7001,n3:7002",
    "rediss+cluster://:s3cr%40t%2Fpw@n1:7000?ssl_ca_certs=/etc/ssl/ca.pem",
]


def parse(**sections: Any) -> Config:
    data: dict[str, Any] = {
        "upstreams": {"main": {"dialect": "xtream_masters", "url": "http://p:1", "access_code": "a", "api_key": "k"}},
        "policies_dir": str(REPO / "policies"),
        **sections,
    }
    return parse_config(data, base_dir=REPO, env={})


@pytest.mark.parametrize("text", FORMS)
def test_every_form_parses_and_never_shows_its_password(text: str) -> None:
    url = parse_url(text)
    assert url.password == SECRET
    for shown in (url.redacted(), str(url), repr(url)):
        assert SECRET not in shown and "s3cr" not in shown, shown
    assert parse_url(url.redacted().replace("***", "x")).hosts == url.hosts  # redacted, still a URL of the same


def test_what_each_form_means() -> None:
    server = parse_url("redis://h")
    assert (server.kind, server.hosts, server.db) == ("server", (("h", 6379),), 0)
    sentinel = parse_url("redis+sentinel://s1,s2:26380/mymaster/2")
    assert sentinel.kind == "sentinel" and sentinel.hosts == (("s1", 26379), ("s2", 26380))
    assert (sentinel.service, sentinel.db) == ("mymaster", 2)
    cluster = parse_url("rediss+cluster://n1:7000,[::1]:7001")
    assert cluster.kind == "cluster" and cluster.tls and cluster.hosts == (("n1", 7000), ("::1", 7001))
    assert parse_url("unix:///tmp/r.sock?db=4").path == "/tmp/r.sock"
    assert parse_url("redis://h:6379/0") == parse_url("redis://h:6379")  # one deployment, one outage


@pytest.mark.parametrize("text", [
    "http://h:6379", "redis://a,b", "redis+sentinel://s1", "redis+sentinel://s1/a/b/c", "redis+cluster://n1/2",
    "redis://h/x", "redis://h:0", "redis://h?what=1", "redis://h?ssl_cert_reqs=none", "unix://host/x",
    "redis://:pw@h?sentinel_password=x", "redis://h/1?db=2", "redis://bad host", "redis://h#frag",
])  # fmt: skip
def test_bad_urls_are_refused(text: str) -> None:
    with pytest.raises(RedisURLError):
        parse_url(text)


@pytest.mark.parametrize("text", FORMS)
@pytest.mark.parametrize("where", ["redis.url", "rate_limits.redis_url", "cache.redis_url", "client_side.redis_url"])
def test_every_section_accepts_every_form(text: str, where: str) -> None:
    section, key = where.split(".")
    config = parse(**{section: {key: text}})
    limits = {"rate_limits", "locks", "idempotency", "quotas", "keyuse"}  # what shared the rate limits' Redis before
    features = {"redis": set(PREFIXES) - {"cache"}, "rate_limits": limits, "cache": {"cache"},
                "client_side": {"streams", "hosts", "slots"}}[section]  # fmt: skip
    assert set(config.redis.endpoints) == features
    assert {e.url for e in config.redis.endpoints.values()} == {parse_url(text)}


@pytest.mark.parametrize("where", ["redis.url", "rate_limits.redis_url", "cache.redis_url", "client_side.redis_url"])
def test_a_bad_url_names_its_path_and_hides_its_password(where: str) -> None:
    section, key = where.split(".")
    with pytest.raises(ConfigError) as err:
        parse(**{section: {key: f"redis+cluster://:{SECRET}@n1/3"}})
    assert err.value.path == where and SECRET not in str(err.value)


def test_the_section_gives_every_feature_its_prefix() -> None:
    config = parse(redis={"url": "redis+cluster://n1:7000", "timeout": 0.5, "retry_after": 2,
                          "prefixes": {"cache": "c:", "streams": "s:"}}, cache={})  # fmt: skip
    cache, limits = config.redis.endpoint("cache"), config.redis.endpoint("rate_limits")
    assert cache is not None and limits is not None
    assert (cache.prefix, cache.timeout, cache.retry_after) == ("c:", 0.5, 2.0)
    assert limits.prefix == PREFIXES["rate_limits"]
    assert config.cache.backend == "redis"  # the default with a Redis
    assert parse(redis={"url": "redis://r"}).cache.backend == "off"  # no cache section: nothing cached
    local = parse(redis={"url": "redis://r"}, cache={"backend": "memory"})
    assert local.cache.backend == "memory" and local.redis.endpoint("cache") is None
    assert parse(redis={"url": ""}).redis.endpoints == {}  # `${PANELGATE_REDIS_URL:-}` unset
    assert parse(redis={"url": "redis://r"}, rate_limits={}).redis.endpoint("rate_limits") is not None


@pytest.mark.parametrize(("sections", "path"), [
    ({"redis": {"url": "redis://r", "prefixes": {"cache": "pg:{x}:"}}}, "redis.prefixes.cache"),
    ({"redis": {"url": "redis://r", "prefixes": {"sessions": "x:"}}}, "redis.prefixes.sessions"),
    ({"redis": {"url": "redis://r", "timeout": 0}}, "redis.timeout"),
    ({"redis": {"uri": "redis://r"}}, "redis.uri"),
    ({"redis": {"url": 6379}}, "redis.url"),
    ({"redis": {"url": "redis://r"}, "rate_limits": {"redis_url": "redis://r"}}, "rate_limits.redis_url"),
    ({"redis": {"url": "redis://r"}, "cache": {"prefix": "c:"}}, "cache.prefix"),
    ({"redis": {"url": "redis://r"}, "client_side": {"redis_prefix": "s:"}}, "client_side.redis_prefix"),
    ({"cache": {"backend": "redis"}}, "cache.backend"),
    ({"rate_limits": {"redis_url": "redis://r", "prefix": "a{b}"}}, "rate_limits.prefix"),
    ({"rate_limits": {"burst": 3}}, "rate_limits.burst"),
    ({"redis": {"url": "redis://r"}, "rate_limits": {"burst": 3}}, "rate_limits.burst"),
])  # fmt: skip
def test_errors_name_the_yaml_path(sections: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(**sections)
    assert err.value.path == path, str(err.value)


def test_the_old_keys_keep_working_and_warn_once(caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(settings, "_WARNED", set())
    old = {"rate_limits": {"redis_url": "redis://a:1/0", "prefix": "rl:", "timeout": 0.3},
           "cache": {"redis_url": "redis+sentinel://s1/m", "prefix": "c:", "retry_after": 2},
           "client_side": {"redis_url": "redis+cluster://n1:7000", "redis_prefix": "st:"}}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="panelgate.config"):
        for _ in range(3):  # a reload parses again: still one warning per key
            config = parse(**old)
    warned = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warned) == 8 and any("cache.redis_url is deprecated; use redis.url" in m for m in warned)
    endpoints = config.redis.endpoints
    assert endpoints["rate_limits"] == Endpoint(parse_url("redis://a:1"), "rl:", 0.3)
    assert endpoints["locks"].prefix == "rl:lock:"  # where the locks were before
    assert endpoints["cache"].url.kind == "sentinel" and endpoints["cache"].retry_after == 2
    assert endpoints["streams"].url.kind == "cluster" and endpoints["streams"].prefix == "st:"
    assert config.cache.backend == "redis"


def test_panelgate_check_accepts_every_form_in_every_section(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             ) -> None:  # fmt: skip
    for i, text in enumerate(FORMS):
        for section, key in (("redis", "url"), ("rate_limits", "redis_url"), ("cache", "redis_url"),
                             ("client_side", "redis_url")):  # fmt: skip
            path = tmp_path / f"g{i}{section}.yaml"
            path.write_text(
                "upstreams: {main: {dialect: xtream_codes_v2, url: 'http://p:1'}}\n"
                f"policies_dir: {REPO / 'policies'}\n{section}: {{{key}: '{text}'}}\n"
            )
            assert main(["check", "-c", str(path)]) == 0, capsys.readouterr().err
    path = tmp_path / "bad.yaml"
    path.write_text(f"upstreams: {{main: {{dialect: xtream_codes_v2, url: 'http://p:1'}}}}\n"
                    f"policies_dir: {REPO / 'policies'}\nredis: {{url: 'redis://:{SECRET}@h/x'}}\n")  # fmt: skip
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "redis.url" in err and SECRET not in err


@pytest.mark.parametrize("text", FORMS)
def test_one_factory_builds_every_client_without_connecting(text: str) -> None:
    url = parse_url(text)
    client = connect(url, 0.1)
    assert isinstance(client, RedisCluster if url.kind == "cluster" else Redis)
    if url.kind == "sentinel":
        assert isinstance(client, Redis)
        pool = client.connection_pool
        assert pool.connection_kwargs["db"] == url.db and pool.connection_kwargs["password"] == SECRET
        sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
        assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
                for s in sentinels] == list(url.hosts)  # fmt: skip


def test_one_upstreams_generations_share_a_slot_and_upstreams_spread() -> None:
    backend = RedisBackend(Endpoint(parse_url("redis+cluster://n1:7000"), "panelgate:cache:"))
    tags = ["line", "*", "package", "bouquet", "reseller", "user"]
    for upstream in ("main", "legacy", "x:y", "we{ird}"):
        slots = {key_slot(backend._gen_key(f"{upstream}:{t}").encode()) for t in tags}
        assert len(slots) == 1, upstream
    spread = {key_slot(backend._gen_key(f"panel{i}:line").encode()) for i in range(20)}
    assert len(spread) == 20


@pytest.mark.parametrize("group", ["pool", "}x", "a}b", "{a}", "%7D", ""])
def test_a_lease_groups_keys_share_a_slot_whatever_its_name(group: str) -> None:
    leases = Leases(Link(Endpoint(parse_url("redis+cluster://n1:7000"), "panelgate:slots:"), "slots"))
    keys = [leases._key(group, name) for name in ("line1", "line{2}", "}3")]
    assert len({key_slot(k.encode()) for k in keys}) == 1, keys
    assert tagged("p:", "a}b") != tagged("p:", "a%7Db")  # escaping is one-to-one


@pytest.mark.parametrize("password", [f"a?{SECRET}", f"?{SECRET}", f"{SECRET[:4]}?{SECRET[4:]}"])
def test_a_password_holding_a_question_mark_is_not_quoted_in_the_error(password: str) -> None:
    """The query begins at the first `?`, so the rest of a raw password was read as an option's name and the error
    quoted it: `unknown URL option 'hunter2@h:6379/0'`, on `panelgate check` and in a refused reload's log line."""
    with pytest.raises(ConfigError) as err:
        parse(redis={"url": f"redis://:{password}@h:6379/0"})
    tail = password.partition("?")[2]
    assert tail not in str(err.value), str(err.value)
    assert "%3F" in str(err.value)  # what to write instead

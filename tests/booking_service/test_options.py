"""Bad configuration stops the booking service and the spawner at start-up, with the
option's name in the message (issue 9, item 11)."""

from __future__ import annotations

import re

import pytest
from traitlets.config import Config

from booking_service import store
from booking_service.app import BookingService
from spawner.mixin import BookingSpawnerMixin

TINY = {"name": "t", "notebook_cores": 1e-320, "notebook_memory_gib": 1}
BIG = {"name": "t", "notebook_cores": 20, "notebook_memory_gib": 1, "spark_workers": 1, "worker_cores": 20,
       "worker_memory_gib": 1}
BAD = [
    ({"max_blocks": 0}, "BookingService.max_blocks"),
    ({"alternatives": -1}, "BookingService.alternatives"),
    ({"alternatives": 101}, "BookingService.alternatives"),
    ({"hold_minutes": 0.0}, "BookingService.hold_minutes"),
    ({"hold_minutes": float("nan")}, "BookingService.hold_minutes"),
    ({"max_query_days": 0}, "BookingService.max_query_days"),
    ({"lifecycle_interval": -5.0}, "BookingService.lifecycle_interval"),
    ({"max_booking_cores": 0.0}, "BookingService.max_booking_cores"),
    ({"max_package_memory_gib": -1.0}, "BookingService.max_package_memory_gib"),
    ({"warn_before_minutes": [0]}, "BookingService.warn_before_minutes"),
    ({"walk_in_pool": "Not A Name"}, "BookingService.walk_in_pool"),
    ({"seed_pool": "x/y"}, "BookingService.seed_pool"),
    ({"seed_packages": [TINY]}, "BookingService.seed_packages[0]: 'notebook_cores'"),
    ({"seed_packages": [BIG], "max_package_cores": 32.0}, "BookingService.seed_packages[0]: The package's footprint"),
    ({"feed_secret": "x" * 31}, "BookingService.feed_secret"),
]


@pytest.mark.parametrize("options, name", BAD, ids=[f"{k}={v}"[:40] for (k, v), _ in
                                                   ((next(iter(o.items())), n) for o, n in BAD)])
def test_a_bad_option_fails_at_start_up_naming_it(options, name):
    with pytest.raises(ValueError, match=re.escape(name)):
        BookingService(config=Config({"BookingService": options})).initialize([])


def test_good_options_pass():
    app = BookingService()
    app.initialize(["--BookingService.max_blocks=5", "--BookingService.alternatives=0",
                    "--BookingService.walk_in_pool=shared", "--BookingService.orphan_grace_seconds=0"])
    assert app.max_blocks == 5 and len(app.seed_rows) == 4


async def test_a_walk_in_pool_that_is_reserved_fails_at_start_up(tmp_path):
    app = BookingService()
    app.initialize(["--BookingService.walk_in_pool=local", "--BookingService.seed_pool=local"])
    engine = store.make_engine(f"sqlite+aiosqlite:///{tmp_path}/b.sqlite")
    await store.upgrade(engine)
    app.walk_in_pool = ""  # seed only the reserved pool 'local'
    await app.seed(engine)
    app.walk_in_pool = "local"
    try:
        with pytest.raises(ValueError, match="BookingService.walk_in_pool: the pool 'local' is reserved"):
            await app.check_walk_in_pool(engine)
    finally:
        await engine.dispose()


class Spawner(BookingSpawnerMixin):
    pass


def test_the_spawner_without_a_booking_service_url_fails_naming_the_option(monkeypatch):
    monkeypatch.delenv("AGLAIS_BOOKING_API_URL", raising=False)
    with pytest.raises(ValueError, match="BookingSpawnerMixin.booking_api_url is empty"):
        Spawner()
    with pytest.raises(ValueError, match="BookingSpawnerMixin.booking_api_url must be an http"):
        Spawner(booking_api_url="booking:8001/api")
    assert Spawner(booking_api_url="http://127.0.0.1:1/api/v1").booking_api_url.startswith("http")


def test_reclaim_minutes_from_a_json_config_file(tmp_path):
    """JSON has only string keys (the Helm chart writes the config as JSON): level numbers
    as digit strings are level numbers; anything else names the option."""
    import json

    path = tmp_path / "booking_service_config.json"
    path.write_text(json.dumps({"BookingService": {"reclaim_unstarted_minutes": {"0": 15, "2": 60.5}}}))
    service = BookingService()
    service.load_config_file(str(path))
    assert service.reclaim_unstarted_minutes == {0: 15.0, 2: 60.5}
    with pytest.raises(Exception, match=re.escape("BookingService.reclaim_unstarted_minutes: 'one'")):
        BookingService(config=Config({"BookingService": {"reclaim_unstarted_minutes": {"one": 15}}}))


def test_the_feed_secret_file_is_made_owner_only_kept_and_checked(tmp_path, monkeypatch):
    """BookingService.feed_secret_file, as JupyterHub's cookie_secret_file: made with a
    random secret at the first start, readable by its owner only; the same after; one
    others may read, or too short, stops the start naming the option."""
    monkeypatch.delenv("AGLAIS_FEED_SECRET", raising=False)
    path = tmp_path / "feed_secret"
    app = BookingService(config=Config({"BookingService": {"feed_secret_file": str(path)}}))
    app.initialize([])
    secret = app.load_feed_secret()
    assert path.stat().st_mode & 0o777 == 0o600 and len(secret) == 64 and path.read_text().strip() == secret.decode()
    assert app.load_feed_secret() == secret
    assert [p.name for p in tmp_path.iterdir()] == ["feed_secret"]  # no temporary file left behind
    path.chmod(0o640)
    with pytest.raises(ValueError, match="BookingService.feed_secret_file.*chmod 600"):
        app.load_feed_secret()
    path.write_text("short\n")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="BookingService.feed_secret_file.*less than 32 bytes"):
        app.load_feed_secret()


def test_the_feed_secret_comes_from_the_environment_never_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AGLAIS_FEED_SECRET", "s" * 40)
    app = BookingService(config=Config({"BookingService": {"feed_secret_file": str(tmp_path / "unused")}}))
    app.initialize([])
    app.feed_key = app.load_feed_secret()
    assert app.feed_key == b"s" * 40 and not (tmp_path / "unused").exists()
    settings = app.feed_settings()["ical"]
    assert settings.secret == app.feed_key and "s" * 40 not in repr(settings)  # kept out of logs
    with pytest.raises(ValueError, match="never given on the command line"):
        BookingService().initialize(["--BookingService.feed_secret=" + "t" * 40])

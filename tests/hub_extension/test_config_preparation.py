"""The stage_file worker's wiring (hub_extension.config.preparation): a hub-managed service
the proxy never exposes, its token and the homes in its environment, and the booking
service told where it is through its environment (never on a command line)."""

from __future__ import annotations

import json

import pytest
from traitlets.config import Config

from booking_service.app import BookingService
from hub_extension.config.booking import configure_booking_service
from hub_extension.config.preparation import stage_file_service


def test_the_worker_and_the_booking_service_share_a_token_off_the_command_line(monkeypatch):
    c = Config()
    configure_booking_service(c, url="http://127.0.0.1:8001", db_url="sqlite+aiosqlite:///b.sqlite")
    worker = stage_file_service(c, port=8006, homes="/home/{system_user}", system_user_prefix="jupyter-")
    booking = next(s for s in c.JupyterHub.services if s["name"] == "booking")
    assert "url" not in worker and worker["command"][1:3] == ["-m", "booking_service.workers.stage_file"]
    token = worker["environment"]["AGLAIS_STAGE_FILE_TOKEN"]
    assert len(token) == 64 and not any(token in arg for arg in worker["command"] + booking["command"])
    workers = json.loads(booking["environment"]["AGLAIS_PREPARATION_WORKERS"])
    assert workers["stage_file"]["url"] == "http://127.0.0.1:8006/" and workers["stage_file"]["token"] == token
    monkeypatch.setenv("AGLAIS_PREPARATION_WORKERS", booking["environment"]["AGLAIS_PREPARATION_WORKERS"])
    service = BookingService()
    service.initialize([])
    assert service.preparation_workers == workers  # the service reads it and checks it
    assert [s["name"] for s in c.JupyterHub.services].count("stage-file") == 1


def test_a_bad_worker_entry_stops_the_service_with_its_name(monkeypatch):
    monkeypatch.setenv("AGLAIS_PREPARATION_WORKERS", json.dumps({"stage_file": {"url": "ftp://x/"}}))
    with pytest.raises(ValueError, match=r"preparation_workers\['stage_file'\]\['url'\]"):
        BookingService().preparation_workers
    with pytest.raises(ValueError, match="configure_booking_service first"):
        stage_file_service(Config(), port=1, homes="/h/{username}")

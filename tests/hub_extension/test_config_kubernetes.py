"""configure_kubernetes with stand-ins of z2jh's get_config / get_secret_value / get_name (the
chart's real ones are exercised in tests/helm/test_hub_config.py)."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from hub_extension.config.kubernetes import configure_kubernetes
from hub_extension.config.retention import hub_mail

DECLARED = ("booking", "booking-spawner", "booking-accounts", "retention", "trial-culler")


def z2jh(custom=None, services=DECLARED, overrides=None):
    """A config as z2jh leaves it (one entry per hub.services key, with its token), and
    stand-ins of its helpers."""
    c = Config()
    c.JupyterHub.services = [{"name": "jupyterhub-idle-culler", "command": ["culler"]}] + [
        {"name": n, "api_token": f"token-{n}", **(overrides or {}).get(n, {})} for n in services]
    hub_services = {n: (overrides or {}).get(n, {}) for n in services}
    helpers = {
        "get_config": lambda key, default=None: {"custom.aglais": custom, "hub.services": hub_services}.get(
            key, default),
        "get_secret_value": lambda key: "token-" + key.split(".")[2],
        "get_name": lambda name: {"fullname-dash": "edu-"}[name],
    }
    return c, helpers


def configure(c, helpers, **environ):
    configure_kubernetes(c, **helpers, environ=environ)
    return {s["name"]: s for s in c.JupyterHub.services}


def test_a_service_not_declared_has_no_token_and_is_refused():
    c, helpers = z2jh(services=[n for n in DECLARED if n != "booking-accounts"])
    with pytest.raises(ValueError, match=r"jupyterhub\.hub\.services\.booking-accounts"):
        configure(c, helpers)


def test_z2jhs_own_culler_is_left_as_z2jh_made_it():
    c, helpers = z2jh()
    assert configure(c, helpers)["jupyterhub-idle-culler"] == {"name": "jupyterhub-idle-culler", "command": ["culler"]}


def test_the_booking_service_is_its_deployments_service_unless_the_values_say():
    c, helpers = z2jh()
    assert configure(c, helpers)["booking"]["url"] == "http://edu-booking:10101"
    c, helpers = z2jh(overrides={"booking": {"url": "http://elsewhere:80", "display": False}})
    booking = configure(c, helpers)["booking"]
    assert booking["url"] == "http://elsewhere:80" and booking["display"] is False
    assert c.BookingSpawnerMixin.booking_api_url == "http://elsewhere:80/services/booking/api/v1"


def test_without_a_trial_culler_its_declaration_holds_no_role():
    c, helpers = z2jh(custom={"trialCullerTimeout": None})
    found = configure(c, helpers)
    assert "command" not in found["trial-culler"]
    assert not [r for r in c.JupyterHub.load_roles if "trial-culler" in r.get("services", [])]


def test_a_server_culler_needs_its_declaration():
    c, helpers = z2jh(custom={"serverCullerTimeout": 7200})
    with pytest.raises(ValueError, match="server-culler"):
        configure(c, helpers)
    c, helpers = z2jh(custom={"serverCullerTimeout": 7200}, services=DECLARED + ("server-culler",))
    culler = configure(c, helpers)["server-culler"]
    assert "--timeout=7200" in culler["command"] and culler["api_token"] == "token-server-culler"


def test_mail_reaches_the_retention_job_without_its_password_on_the_command_line():
    c, helpers = z2jh()
    c.Mailer.smtp_host = "smtp.example.org"
    c.Mailer.security = "tls"
    retention = configure(c, helpers, AGLAIS_SMTP_PASSWORD="pw")["retention"]
    assert {"--Mailer.smtp_host=smtp.example.org", "--Mailer.security=tls"} <= set(retention["command"])
    assert not any("pw" in arg.split("=", 1)[-1] for arg in retention["command"])
    assert retention["environment"] == {"AGLAIS_SMTP_PASSWORD": "pw"}
    assert c.Mailer.smtp_password == "pw"


def test_no_smtp_host_no_mail_options():
    c = Config()
    c.Mailer.smtp_port = 2525
    assert hub_mail(c) == ([], {})

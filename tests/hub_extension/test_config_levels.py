"""The level group names have one home: a hub's own list reaches its booking service."""

from traitlets.config import Application, Config

from booking_service.policy import LevelPolicy
from hub_extension.config.booking import configure_booking_service
from hub_extension.levels import Levels


def service_policy(c: Config) -> LevelPolicy:
    """The LevelPolicy the hub-managed booking service would build from its command line."""
    command = next(s["command"] for s in c.JupyterHub.services if s["name"] == "booking")
    app = Application(classes=[LevelPolicy])
    app.parse_command_line([arg for arg in command if arg.startswith("--LevelPolicy.")])
    return LevelPolicy(parent=app)


def test_defaults_agree():
    assert LevelPolicy().group_levels == {g: n for n, g in enumerate(Levels().groups)}


def test_a_hubs_own_levels_reach_its_booking_service():
    c = Config()
    c.Levels.groups = ["visitors", "members", "staff", "partners"]
    configure_booking_service(c, url="http://127.0.0.1:1")
    policy = service_policy(c)
    assert policy.group_levels == {"visitors": 0, "members": 1, "staff": 2, "partners": 3}
    assert Levels(config=c).groups == ["visitors", "members", "staff", "partners"]


def test_without_levels_the_service_keeps_the_shared_default():
    c = Config()
    configure_booking_service(c, url="http://127.0.0.1:1")
    assert service_policy(c).group_levels == LevelPolicy().group_levels

"""Reading and extending a JupyterHub config object from our configure_* functions."""

from __future__ import annotations

from traitlets.config import LazyConfigValue


def configured(section, option: str, empty):
    """What earlier config set for `option`, whole. An unset option, or one only appended
    to (`c.JupyterHub.services.append(...)`), is a LazyConfigValue, which cannot be read
    as a list or dict; its appends are applied to `empty`."""
    if option not in section:
        return empty
    value = section[option]
    return value.get_value(empty) if isinstance(value, LazyConfigValue) else value


def merge_role(roles: list, name: str, scopes: list, services: list = ()) -> None:
    """Add `scopes` (and member `services`) to the role `name`, creating it if new."""
    for role in roles:
        if role["name"] == name:
            break
    else:
        role = {"name": name}
        roles.append(role)
    role["scopes"] = sorted(set(role.get("scopes", [])) | set(scopes))
    if services:
        role["services"] = sorted(set(role.get("services", [])) | set(services))

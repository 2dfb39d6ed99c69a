"""A platform's credential from its config: given inline (`token`), in an environment
variable (`token_env`) or in a file (`token_file`, read at each call so a rotated Secret
mount is picked up). Exactly one of the three."""

from __future__ import annotations

import os
from pathlib import Path

from .model import PlatformError

KEYS = ("token", "token_env", "token_file")


def check_secret(spec: dict, where: str) -> None:
    given = [k for k in KEYS if spec.get(k)]
    if len(given) != 1:
        raise ValueError(f"{where} needs exactly one of 'token', 'token_env' or 'token_file' (the credential "
                         f"for its API), not {given or 'none'}")
    if any(not isinstance(spec[k], str) for k in given):
        raise ValueError(f"{where}.{given[0]} must be a string")
    if given == ["token_env"] and not os.environ.get(spec["token_env"]):
        raise ValueError(f"{where}.token_env: the environment variable {spec['token_env']} is not set")


def read_secret(spec: dict, platform: str) -> str:
    if spec.get("token"):
        return spec["token"]
    if spec.get("token_env"):
        return os.environ.get(spec["token_env"], "")
    try:
        value = Path(spec["token_file"]).read_text().strip()
    except OSError as e:
        raise PlatformError(f"Platform '{platform}': its token file cannot be read ({e.strerror}).") from None
    if not value:
        raise PlatformError(f"Platform '{platform}': its token file is empty.")
    return value

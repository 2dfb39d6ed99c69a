"""The account API's request bodies: each one's fields, and the one check every body passes
before anything is read or written (the same rules as openapi.yaml's request schemas).

A body is a JSON object of at most 64 KiB (an empty body counts as {}); its fields are
the operation's own, each of its type. Everywhere in a body: strings carry no control
characters (CR and LF included) and no lone surrogates, numbers are finite and integers
lie within ±(2**53 - 1) (what every JSON reader holds exactly). Every refusal is a
BodyError, which the API answers as a 4xx {"status", "message"} naming the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

MAX_BODY = 64 * 1024
MAX_INTEGER = 2**53 - 1
MAX_ATTRIBUTES = 8 * 1024  # bytes of the attributes as JSON
MAX_ATTRIBUTE_KEYS = 64
MAX_LIST = 64
# an attribute's name reads like an identifier: not a number, not a sentence
ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class BodyError(ValueError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Text:
    max_length: int
    min_length: int = 0
    nullable: bool = False


@dataclass(frozen=True)
class Choice:
    """One of the strings `options()` gives (known only at run time: the level groups)."""
    options: object
    nullable: bool = False


@dataclass(frozen=True)
class Flag:
    pass


@dataclass(frozen=True)
class Whole:
    minimum: int
    maximum: object  # an int, or a callable giving it (a configured maximum)


@dataclass(frozen=True)
class Attributes:
    nullable: bool = False


@dataclass(frozen=True)
class Body:
    fields: dict
    required: tuple = field(default=())


def parse(raw: bytes, body: Body) -> dict:
    """The body's fields, checked; BodyError says which one is wrong and how."""
    if len(raw) > MAX_BODY:
        raise BodyError(f"The body is over {MAX_BODY // 1024} KiB.", 413)
    if not raw.strip():
        data = {}
    else:
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BodyError("The body must be a JSON object (UTF-8).") from None
    if not isinstance(data, dict):
        raise BodyError("The body must be a JSON object.")
    unknown = sorted(set(data) - set(body.fields))
    if unknown:
        raise BodyError(f"Unknown field(s): {', '.join(_show(k) for k in unknown)}. "
                        f"Use {', '.join(body.fields)}.")
    missing = [name for name in body.required if data.get(name) is None]
    if missing:
        raise BodyError(f"{', '.join(missing)} is required.")
    for name, value in data.items():
        _check(name, body.fields[name], value)
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _show(key: str) -> str:
    return repr(_CONTROL.sub("?", key[:40]))


def _check(name: str, kind, value) -> None:
    if value is None and getattr(kind, "nullable", False):
        return
    if isinstance(kind, Text):
        if not isinstance(value, str):
            raise BodyError(f"{name} must be a string.")
        if not kind.min_length <= len(value) <= kind.max_length:
            raise BodyError(f"{name} must be {kind.min_length} to {kind.max_length} characters long.")
        _clean(name, value)
    elif isinstance(kind, Choice):
        options = list(kind.options())
        if not isinstance(value, str) or value not in options:
            raise BodyError(f"{name} must be one of {', '.join(options)}.")
    elif isinstance(kind, Flag):
        if not isinstance(value, bool):
            raise BodyError(f"{name} must be true or false.")
    elif isinstance(kind, Whole):
        maximum = kind.maximum() if callable(kind.maximum) else kind.maximum
        if not isinstance(value, int) or isinstance(value, bool) or not kind.minimum <= value <= maximum:
            raise BodyError(f"{name} must be a whole number from {kind.minimum} to {maximum}.")
    elif isinstance(kind, Attributes):
        attributes(name, value)
    else:  # pragma: no cover - a field kind without a rule is a programming error
        raise TypeError(kind)


def _clean(name: str, text: str) -> None:
    if _CONTROL.search(text):
        raise BodyError(f"{name} must not contain control characters (such as CR or LF).")


def attributes(name: str, value) -> dict:
    """An account's attributes: a JSON object of at most 64 names, each like an identifier
    (a letter or '_', then letters, digits, '_', '.', '-'; at most 64), whose values are
    strings, numbers, booleans, null, or lists (at most 64) of those; 8 KiB as JSON."""
    if not isinstance(value, dict):
        raise BodyError(f"{name} must be a JSON object.")
    if len(value) > MAX_ATTRIBUTE_KEYS:
        raise BodyError(f"{name} may hold at most {MAX_ATTRIBUTE_KEYS} names.")
    for key, item in value.items():
        if not ATTRIBUTE_NAME.fullmatch(key):
            raise BodyError(f"{name}: the name {_show(key)} is not one; a name is a letter or '_', then up to 63 "
                            "letters, digits, '_', '.' or '-'.")
        where = f"{name}.{key}"
        if isinstance(item, list):
            if len(item) > MAX_LIST:
                raise BodyError(f"{where} may list at most {MAX_LIST} values.")
            for element in item:
                _scalar(where, element)
        else:
            _scalar(where, item)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_ATTRIBUTES:
        raise BodyError(f"{name} must be at most {MAX_ATTRIBUTES // 1024} KiB as JSON.")
    return value


def _scalar(where: str, value) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _clean(where, value)
    elif isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            raise BodyError(f"{where} must lie within ±{MAX_INTEGER}.")
    elif isinstance(value, float):
        if not math.isfinite(value):  # 1e400 reads as inf
            raise BodyError(f"{where} must be a finite number.")
    else:
        raise BodyError(f"{where} must be a string, number, true, false, null or a list of those.")

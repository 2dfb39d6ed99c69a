"""Schemathesis against a running service's OpenAPI document: every operation gets a fixed
number of generated requests (valid and invalid), derandomized so CI repeats the same
ones; every answer must be no 5xx and match the document (status, content type, schema).

Plug another document in with one call: ``fuzz(document, base_url, token)``, e.g. the
hub's account API once ``hub_extension/accounts/openapi.yaml`` exists."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz(document: Path | dict, base_url: str, token: str, *, examples: int = 20,
         modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE), exclude=()) -> list[str]:
    """Run every operation of `document` against `base_url` (where its paths begin) with
    `token`; returns one line per failing operation and mode (empty: all held).
    `exclude`: operationIds not to run (e.g. one that would delete the caller)."""
    schema = (schemathesis.openapi.from_dict(document) if isinstance(document, dict)
              else schemathesis.openapi.from_path(str(document)))
    headers = {"Authorization": f"token {token}"}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") in exclude:
            continue
        for mode in modes:
            @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                case.validate_response(response, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                pass  # nothing to make invalid (an operation without parameters or body)
            except (Exception, BaseExceptionGroup) as e:  # the first failure of this operation, shrunk
                failures.append(f"{operation.label} ({mode.value}): {type(e).__name__}: {str(e)[:1500]}")
    return failures

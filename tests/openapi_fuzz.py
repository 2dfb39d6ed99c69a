"""schemathesis over an OpenAPI document against a running server, bounded: a fixed
number of derandomized examples per operation and generation mode (valid and invalid
data), each answer checked for no server error and against the document (status, content
type, schema), and invalid data checked to be refused. Returns the failures as text, so
a test can assert there are none and show them all.

One harness for both documents: the booking service's (tests/booking_service/test_fuzz.py)
and the hub's account API (tests/hub_extension/test_account_fuzz.py); `path_parameters`
runs the operations against a resource that exists."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz(document: dict | Path, base_url: str, token: str, *, examples: int = 20, path_parameters: dict | None = None,
         modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE), exclude=(), refuse_invalid: bool = True) -> list[str]:
    """Run every operation of `document` (but the operationIds in `exclude`) against
    `base_url` with `token`. `path_parameters` fixes some (an account that exists), else
    they are generated too. `refuse_invalid` also checks that invalid data is refused
    (the booking service ignores unknown query parameters, which that check counts as
    accepting invalid data, so its run leaves it off)."""
    checks = CHECKS + [negative_data_rejection] if refuse_invalid else CHECKS
    schema = (schemathesis.openapi.from_dict(document) if isinstance(document, dict)
              else schemathesis.openapi.from_path(str(document)))
    headers = {"Authorization": f"token {token}"}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") in exclude:
            continue
        wanted = {k: v for k, v in (path_parameters or {}).items()
                  if any(p.name == k for p in operation.path_parameters)}
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=wanted or None)

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                      report_multiple_bugs=False)
            @given(case=strategy)
            def run(case):
                response = case.call(base_url=base_url, headers=headers, timeout=60)
                case.validate_response(response, checks=checks, headers=headers)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue
            except (Exception, BaseExceptionGroup) as e:  # the failures of one operation and mode, reported together
                failures.append(f"{operation.label} [{mode.value}{', ' + str(wanted) if wanted else ''}]:\n{e}")
    return failures

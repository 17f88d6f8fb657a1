"""Fuzzing routes from an OpenAPI document (schemathesis): no 5xx, no status, content type or body outside what
the document says, invalid input always rejected, and every error in the API's error shape.

Schemathesis's check that schema-valid input is accepted is left out: the API rightly refuses input
that only its semantics rule out (text with nothing to speak, an unknown voice), with a 4xx.
"""

from __future__ import annotations

from itertools import product

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def fuzz_operations(schema, call_kwargs: dict, paths=None) -> dict[str, str]:
    """Each operation (under `paths`, if given) in both generation modes; the findings by route."""
    failures = {}
    for result, mode in product(schema.get_all_operations(), GenerationMode):
        operation = result.ok()
        if paths is not None and not operation.path.startswith(paths):
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def fuzz(case):
            response = case.call_and_validate(checks=CHECKS, **call_kwargs)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) == {"message", "type", "param", "code"} and error["message"], error

        try:
            fuzz()
        except Unsatisfiable:  # no invalid input exists where every parameter takes any string and no body is read
            assert mode is GenerationMode.NEGATIVE and not operation.body, operation
        except (AssertionError, FailureGroup) as failure:  # collected: one run reports every route's findings
            failures[f"{operation.method.upper()} {operation.path} ({mode.value})"] = str(failure)[:1500]
    return failures


def report(failures: dict[str, str]) -> str:
    return "\n\n".join(f"{route}:\n{text}" for route, text in failures.items())

"""Every route, fuzzed from the gateway's own OpenAPI document (schemathesis), on the in-process tier
(tests/test_gateway_routes.py: the real app and operations core over fake engines): no 5xx, no
status, content type or body outside what the document says, invalid input always rejected, and
every error in the API's error shape.

Schemathesis's check that schema-valid input is accepted is left out: the API rightly refuses input
that only its semantics rule out (text with nothing to speak, an unknown voice), with a 4xx.
"""

from __future__ import annotations

from itertools import product

import schemathesis
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

from tests.test_gateway_routes import serve_gateway

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def test_every_route_holds_to_its_schema(tmp_path):
    gw = serve_gateway(tmp_path)
    schema = schemathesis.openapi.from_asgi("/openapi.json", gw.app)
    failures = {}
    for result, mode in product(schema.get_all_operations(), GenerationMode):
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            response = case.call_and_validate(checks=CHECKS)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) == {"message", "type", "param", "code"} and error["message"], error

        try:
            fuzz()
        except Unsatisfiable:  # no invalid input exists where every parameter takes any string and no body is read
            assert mode is GenerationMode.NEGATIVE and not operation.body, operation
        except (AssertionError, FailureGroup) as failure:  # collected: one run reports every route's findings
            failures[f"{operation.method.upper()} {operation.path} ({mode.value})"] = str(failure)[:1500]
    assert not failures, "\n\n".join(f"{route}:\n{text}" for route, text in failures.items())

"""The job API, fuzzed against the session's real Serve app from its OpenAPI document (tests/helpers/fuzzing.py);
every other route is fuzzed in process: tests/gateway/test_fuzzing.py.
"""

from __future__ import annotations

import schemathesis

from tests.helpers.fuzzing import fuzz_operations, report


def test_the_job_api_holds_to_its_schema(client, base_url, certificate):
    """The job routes of the real app: random inputs are queued and fail as jobs, unknown ids are 404s."""
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    job_routes = ("/run", "/runsync", "/status", "/cancel")
    assert {op.ok().path for op in schema.get_all_operations()} >= {"/run", "/runsync", "/status/{job_id}"}
    failures = fuzz_operations(schema, {"base_url": base_url, "verify": str(certificate[0])}, job_routes)
    assert not failures, report(failures)

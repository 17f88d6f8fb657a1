"""Every route but the job API's, fuzzed in process from the gateway's own OpenAPI document (tests/helpers/
fuzzing.py: the real app and operations core over fake engines). The job API, which needs Redis and a
consumer, is fuzzed against the session's real Serve app: tests/served/test_fuzzing.py.
"""

from __future__ import annotations

import schemathesis

from tests.helpers.fuzzing import fuzz_operations, report
from tests.helpers.gateway import serve_gateway


def test_every_route_holds_to_its_schema(tmp_path):
    gw = serve_gateway(tmp_path)
    failures = fuzz_operations(schemathesis.openapi.from_asgi("/openapi.json", gw.app), {})
    assert not failures, report(failures)

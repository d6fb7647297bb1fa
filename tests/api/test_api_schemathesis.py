"""Property-based tests of the whole OpenAPI spec with schemathesis, in process (ASGI).

Every operation is called with generated parameters and bodies and a valid key (all scopes on
the test park); every response must be a documented status with a body matching its schema,
nothing may be a server error, and every error (4xx, 5xx) must be an RFC 9457 problem details
body served as `application/problem+json` with a string `detail`. The SSE stream is left out: it
never ends by design (its `once=true` form is tested in tests/test_api.py). The per-key rate limit
is off here (so every example reaches its route); tests/api/test_api_conventions.py tests it.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings
from schemathesis import checks

from tests.support.api import PARK, make_platform

_state: dict = {}


def every_error_is_problem_json(ctx, response, case) -> None:
    """RFC 9457: an error answers application/problem+json with type, title, status, detail, instance."""
    if response.status_code < 400:
        return
    media = response.headers.get("content-type", [""])
    media = media[0] if isinstance(media, list) else media
    assert media.split(";")[0].strip() == "application/problem+json", (response.status_code, media)
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body), body
    assert body["status"] == response.status_code and isinstance(body["detail"], str) and body["detail"], body
    for error in body.get("errors", []):
        assert isinstance(error["name"], str) and isinstance(error["reason"], str), error


# No server errors; only documented statuses, headers and content types; bodies match their
# schemas. Not `positive_data_acceptance`: a well-formed request may still be refused with a
# documented 422 for what a schema cannot say (a cursor that was never issued, last < first).
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance,
          checks.content_type_conformance, checks.response_headers_conformance, checks.allow_header_conformance,
          every_error_is_problem_json]


def _app():
    import tempfile
    folder = tempfile.mkdtemp(prefix="lingtan-schemathesis-")
    platform = make_platform(f"sqlite:///{folder}/platform.db")
    _state["platform"] = platform
    from lingtan.api.app import create_app
    api = platform.config.api.model_copy(update={"rate_limit_per_key": None})
    return create_app(platform.config.model_copy(update={"api": api}), platform.engine,
                      clock=lambda: platform.clock[0])


schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _app()).exclude(path_regex=r"/stream$")


@pytest.fixture
def key_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {_state['platform'].keys['all']}"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_honours_its_spec(case, key_headers):
    # an empty path segment routes to another path entirely: not an example of this operation
    # (assume() discards the example; pytest.skip here would skip the whole operation)
    assume((case.path_parameters or {}).get("park_id") != "")
    case.call_and_validate(headers=key_headers, checks=CHECKS)


def test_the_spec_documents_security_and_park_errors():
    spec = schema.raw_schema
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer" and schemes["APIKeyCookie"]["name"] == "lingtan_session"
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if "{park_id}" in path:
                assert {"401", "403", "404", "429"} <= set(op["responses"]), (method, path)
            for status, response in op["responses"].items():  # errors: the one Problem schema, problem+json
                if status[0] in "45":
                    assert response["content"] == {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["properties"])
    assert PARK in _state["platform"].config.parks[0].id

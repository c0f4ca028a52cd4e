"""Requests generated from the service's OpenAPI schema (schemathesis): none may get a server error (5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from kb.service.app import create_app
from tests.service.conftest import open_sample

schemathesis = pytest.importorskip("schemathesis")


@pytest.fixture(scope="module")
def app(sample_kb_dir: Path) -> Iterator[Any]:
    kb = open_sample(sample_kb_dir)
    yield create_app(kb, queue_size=64, warm=False)
    kb.close()


def test_no_generated_request_gets_a_server_error(app: Any) -> None:
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/chat/completions", "POST /v1/search", "POST /v1/ask"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: Any) -> None:
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])

        no_server_error()

"""Property-based check of the whole API against its own OpenAPI document (schemathesis).

Every operation in /api/openapi.json is called with generated data, valid (positive) and invalid
(negative), as the owner of a workspace that holds a workflow, a run and a connection.
Required: no 500 answer, every status code documented, every body matching its documented
schema. Bounded (a few examples per operation and mode) so `make test` runs it in about a
minute. (schemathesis's own pytest plugin needs a module-level schema; ours needs a migrated
database first, so the operations are driven through Hypothesis here.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from conftest import ApiCtx
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

MAX_EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_api_matches_its_openapi(api: ApiCtx, request: pytest.FixtureRequest,
                                 monkeypatch: pytest.MonkeyPatch, start_runtime: Any) -> None:
    from engine.config import get_settings
    from engine.db import session_scope
    from engine.services import contacts
    from engine.services.actor import Actor

    monkeypatch.setenv("FLOWMATE_API_RATE_LIMIT", "100000/minute")  # thousands of calls on one token
    get_settings.cache_clear()
    wf = api.create_workflow()
    api.post(f"/api/v1/workflows/{wf['id']}/runs", {"payload": {}})
    api.post("/api/v1/connections", {"type": "slack", "name": "alerts",
                                     "secret": {"webhook_url": "https://hooks.example.test/x"}})
    with session_scope() as session:  # a contact with consent history and a suppression
        contact = contacts.upsert_contact(session, Actor.system(api.a.id), email="jo@example.com", phone="0412345678")
        session.flush()
        contacts.set_consent(session, Actor.system(api.a.id), contact.id, "sms", "withdrawn", source="STOP reply")
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api.client.app)
    start_runtime(threads=1)  # a healthy deployment: /api/health answers 200, not 503
    auth = api.a.auth("owner")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    tested: list[str] = []
    for operation in operations:
        for mode, examples in MAX_EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                case.call_and_validate(headers=auth, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (e.g. no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
        tested.append(operation.label)
    assert "POST /hooks/{token}" in tested and "POST /api/v1/workflows" in tested
    assert "GET /api/v1/contacts" in tested and "GET /api/v1/contacts/{contact_id}" in tested

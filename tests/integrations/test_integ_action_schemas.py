"""The builder renders forms from action Config schemas: every field must explain itself."""

from __future__ import annotations

import pytest

from engine.registry import all_actions

NEW_ACTIONS = ["email.send", "sms.send", "crm.upsert_contact", "slack.post_message", "data.transform", "http.request"]


@pytest.mark.parametrize("name", NEW_ACTIONS)
def test_every_field_has_title_description_and_examples(name: str) -> None:
    spec = all_actions()[name]
    schema = spec.config_schema()
    for field, prop in schema["properties"].items():
        for key in ("title", "description", "examples"):
            assert prop.get(key), f"{name}.{field} has no {key}"
    assert spec.title and spec.description


def test_side_effects_and_connection_types() -> None:
    actions = all_actions()
    assert actions["data.transform"].side_effect is False
    assert all(actions[n].side_effect for n in NEW_ACTIONS if n != "data.transform")
    assert actions["sms.send"].connection_types == ("twilio", "clicksend")
    assert actions["email.send"].connection_types == ("smtp",)

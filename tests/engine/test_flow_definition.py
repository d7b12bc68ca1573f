"""The nested definition model: save-time checks with nested locations, and the tree helpers
the builder uses (walk_steps, visible_steps)."""

from __future__ import annotations

import pytest

from engine.definition import validate_definition, visible_steps, walk_steps
from engine.errors import ValidationFailed


def log(key: str) -> dict:
    return {"key": key, "action": "core.log", "config": {"message": key}}


DEF = {"name": "Tree", "steps": [
    log("first"),
    {"key": "route", "action": "flow.branch", "config": {}, "branches": [
        {"key": "a", "when": "{{ true }}", "steps": [log("in_a"), log("in_a2")]},
        {"key": "b", "default": True, "steps": [log("in_b")]}]},
    {"key": "each", "action": "flow.loop", "config": {"items": [1, 2]}, "steps": [
        log("inner1"),
        {"key": "inner_loop", "action": "flow.loop", "config": {"items": "{{ loop.item }}"},
         "steps": [log("deep")]},
        log("inner2")]},
    log("last"),
]}


def fields_of(definition: dict) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as err:
        validate_definition(definition)
    return err.value.fields


def test_walk_steps_gives_every_step_with_its_scope() -> None:
    scopes = {s.key: s for s in walk_steps(validate_definition(DEF))}
    assert list(scopes) == ["first", "route", "in_a", "in_a2", "in_b", "each", "inner1", "inner_loop", "deep",
                            "inner2", "last"]
    assert scopes["in_b"].loc == "steps.1.branches.1.steps.0" and scopes["in_b"].branch == ("route", "b")
    assert scopes["deep"].loops == ("each", "inner_loop") and scopes["deep"].depth == 2
    assert scopes["last"].loops == () and scopes["last"].parent is None


def test_visible_steps_are_earlier_steps_on_every_path() -> None:
    assert [s.key for s in visible_steps(DEF, "in_a2").steps] == ["first", "in_a"]  # not the other branch
    assert [s.key for s in visible_steps(DEF, "in_b").steps] == ["first"]
    inside = visible_steps(DEF, "inner2")
    assert [s.key for s in inside.steps] == ["first", "route", "in_a", "in_a2", "in_b", "inner1", "inner_loop"]
    assert inside.loop_variables == ["loop.item", "loop.index", "loop.first", "loop.last"]
    assert inside.loops == ["each"]
    last = visible_steps(DEF, "last")
    assert "inner1" not in [s.key for s in last.steps] and "each" in [s.key for s in last.steps]
    assert last.loop_variables == []
    assert visible_steps(DEF, "nope").steps == []


def test_nested_errors_point_at_the_nested_field() -> None:
    bad = {"name": "Bad", "steps": [log("a"), {"key": "each", "action": "flow.loop", "config": {}, "steps": [
        {"key": "x", "action": "http.request", "config": {"url": 5}}, {"key": "y", "action": "nope.nope"}]}]}
    fields = fields_of(bad)
    assert fields["steps.1.config.items"] == "Field required"
    assert "steps.1.steps.0.config.url" in fields
    assert fields["steps.1.steps.1.action"].startswith("unknown action 'nope.nope'")


def test_structure_rules() -> None:
    fields = fields_of({"name": "S", "steps": [
        {"key": "a", "action": "core.log", "config": {"message": "x"}, "steps": []},
        {"key": "b", "action": "core.log", "config": {"message": "x"}, "branches": []},
        {"key": "c", "action": "flow.branch", "config": {}, "branches": []},
        {"key": "d", "action": "flow.branch", "config": {}, "branches": [
            {"key": "one", "default": True}, {"key": "one", "default": True}]},
    ]})
    assert "only flow.loop steps have inner steps" in fields["steps.0.steps"]
    assert fields["steps.1.branches"] == "only flow.branch steps have branches"
    assert fields["steps.2.branches"] == "a branch step needs at least one branch"
    assert fields["steps.3.branches.1.key"] == "duplicate branch key 'one'"
    assert fields["steps.3.branches.1.default"] == "only one branch can be the default"
    assert "steps.0.on_error" in fields_of({"name": "S", "steps": [
        {"key": "e", "action": "core.log", "config": {"message": "x"}, "on_error": "ignore"}]})


def test_a_nested_broken_expression_and_a_bad_concurrency() -> None:
    fields = fields_of({"name": "E", "steps": [
        {"key": "r", "action": "flow.branch", "config": {}, "branches": [
            {"key": "x", "when": "{{ oops ( }}", "steps": [
                {"key": "l", "action": "flow.loop", "config": {"items": [], "concurrency": 11}}]}]}]})
    assert "steps.0.branches.0.when" in fields
    assert "steps.0.branches.0.steps.0.config.concurrency" in fields

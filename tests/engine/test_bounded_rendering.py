"""Bounded rendering: operation and time budgets, whole-value size caps, save-time nesting limits."""

from __future__ import annotations

import time

import pytest

from engine.definition import validate_definition
from engine.errors import ValidationFailed
from engine.expressions import ExpressionError, check_syntax, render, render_budget

CTX = {"trigger": {"body": {"items": list(range(100))}}, "steps": {}}

NESTED_LOOPS = "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}"
MACRO_FANOUT = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"


@pytest.mark.parametrize("bomb", [NESTED_LOOPS, MACRO_FANOUT])
def test_cpu_bombs_stop_on_the_operation_budget(bomb: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as err, render_budget(max_ops=50_000, seconds=30):
        render(bomb, CTX)
    assert "more than 50,000 operations" in str(err.value)
    assert err.value.retryable is False
    assert time.monotonic() - started < 5


def test_cpu_bomb_stops_on_the_time_budget() -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as err, render_budget(max_ops=10**12, seconds=0.5):
        render(MACRO_FANOUT, CTX)
    assert "ran for more than 0.5s" in str(err.value)
    assert time.monotonic() - started < 3


def test_every_evaluation_has_a_default_budget() -> None:
    with pytest.raises(ExpressionError, match="operations"):
        render(NESTED_LOOPS, CTX)


@pytest.mark.parametrize(("template", "words"), [
    ("{{ [[range(1000)|list]*1000]*1000 }}", "sandbox limit"),          # lists of lists, native result
    ("text {{ [[range(1000)|list]*1000] }}", "sandbox limit"),          # ... written into text
    ("{{ ([[1]*150]*3000) | sum(start=[]) }}", "sum() of sequences"),     # quadratic sum of lists
    ("{{ ([[1]*150]*3000) | map('list') | sum(start=[]) }}", "sum() of sequences"),  # ... from a generator
    ("{{ '{:{}}'.format('x', 100000000) }}", "format width"),          # nested format width
    ("{{ '{w:{n}}'.format_map({'w': 'x', 'n': 100000000}) }}", "format width"),
    ("{{ ('ab ' * 300000) | wordwrap(1, wrapstring='x' * 900) }}", "wordwrap"),
])
def test_size_caps_apply_to_the_whole_materialised_value(template: str, words: str) -> None:
    with pytest.raises(ExpressionError) as err:
        render(template, CTX)
    assert words in str(err.value)


def test_reasonable_templates_still_render() -> None:
    assert render("{{ [[1, 2], [3]] | sum(start=[]) }}", CTX) == [1, 2, 3]
    assert render("{{ '{:>{}}'.format('x', 3) }}", CTX) == "  x"
    assert render("{% for i in trigger.body.items %}{{ i }}{% endfor %}", CTX).startswith("0123")
    assert render("{{ 'a b c' | wordwrap(2) }}", CTX) == "a\nb\nc"


def test_deeply_nested_expressions_are_syntax_errors_not_crashes() -> None:
    deep = "{{ " + "(" * 300 + "1" + ")" * 300 + " }}"
    assert "nested more than 32 levels" in check_syntax({"m": deep})["m"]
    assert check_syntax({"m": "{{ " + "(" * 30 + "1" + ")" * 30 + " }}"}) == {}


def test_definitions_refuse_deep_nesting_naming_the_field() -> None:
    nested: object = "x"
    for _ in range(3000):
        nested = [nested]
    definition = {"name": "Deep", "steps": [{"key": "a", "action": "core.log",
                                             "config": {"message": "hi", "data": nested}}]}
    with pytest.raises(ValidationFailed) as err:
        validate_definition(definition)
    assert "FLOWMATE_MAX_JSON_DEPTH" in err.value.fields["steps.0.config"]
    definition["steps"][0]["config"] = {"message": "{{ " + "[" * 300 + "]" * 300 + " }}"}
    with pytest.raises(ValidationFailed) as err:
        validate_definition(definition)
    assert "nested more than 32 levels" in err.value.fields["steps.0.config.message"]


def test_a_cpu_bomb_step_fails_within_its_timeout_without_retries(sqlite_db: str, workspace: dict,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendering used to run outside the step's timeout; now it is bounded by it, and the
    failure is permanent (a retry would burn the same CPU again)."""
    from engine.config import get_settings
    from engine.db import session_scope
    from engine.executor import Executor
    from engine.models import Run
    from engine.services.actor import Actor
    from engine.services.runs import create_run, run_public
    from engine.services.workflows import create_workflow

    monkeypatch.setenv("FLOWMATE_EXPRESSION_MAX_OPERATIONS", str(10**12))  # only the clock stops it
    get_settings.cache_clear()
    with session_scope() as session:
        wf = create_workflow(session, Actor.system(workspace["id"]), {"name": "Bomb", "steps": [
            {"key": "bomb", "action": "core.log", "config": {"message": MACRO_FANOUT}, "timeout_s": 1.5}]})
    run, _ = create_run(wf.id, workspace_id=workspace["id"], trigger_type="manual", payload={}, enqueue=False)
    started = time.monotonic()
    outcome = Executor().execute(run.id)
    assert time.monotonic() - started < 4
    from engine.services.usage import flush_usage

    flush_usage()  # while this test's database exists (the buffer is process-wide)
    assert outcome.status == "failed" and outcome.requeue_in is None
    with session_scope() as session:
        shown = run_public(session, session.get(Run, run.id))
    step = shown["steps"][0]
    assert step["attempts"] == 1
    assert "ran for more than 1.5s" in step["error"]

"""Expressions: native types, lenient missing values, syntax checks and sandbox escapes."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.errors import PermanentError
from engine.expressions import (
    ExpressionError,
    check_syntax,
    contains_expression,
    evaluate_condition,
    render,
)


@pytest.fixture
def ctx() -> dict:
    return {
        "trigger": {
            "body": {
                "email": "ann@example.com",
                "name": "Ann",
                "score": 72,
                "ratio": 0.5,
                "vip": True,
                "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
                "address": {"city": "Lyon"},
                "note": None,
                "evil": "{{ 7*7 }}",
                "evil_tag": "{% for i in range(3) %}x{% endfor %}",
            },
            "headers": {"content-type": "application/json"},
        },
        "steps": {"lookup": {"output": {"id": 42, "tags": ["new", "lead"]}}},
        "run": {"id": "run_1", "attempt": 1},
        "workflow": {"id": "wf_1", "name": "Lead follow-up"},
    }


# --------------------------------------------------------------------------- native types


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ trigger.body.score }}", 72),
        ("{{ trigger.body.ratio }}", 0.5),
        ("{{ trigger.body.vip }}", True),
        ("{{ trigger.body.note }}", None),
        ("{{ trigger.body.items }}", [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]),
        ("{{ trigger.body.address }}", {"city": "Lyon"}),
        ("{{ steps.lookup.output.id }}", 42),
        ("  {{ steps.lookup.output.tags }}\n", ["new", "lead"]),
        ("{{ trigger.body.score + 1 }}", 73),
        ("{{ trigger.body['email'] }}", "ann@example.com"),
        ("{{ trigger.body.items | map(attribute='sku') | list }}", ["A", "B"]),
        ("{{ trigger.body.items | map(attribute='qty') | sum }}", 3),
        ("{{ trigger.body.items | length }}", 2),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ {'a': [1, {'b': none}]} }}", {"a": [1, {"b": None}]}),
        ("{{- trigger.body.score -}}", 72),
    ],
)
def test_whole_expression_keeps_native_type(ctx, template, expected):
    result = render(template, ctx)
    assert result == expected
    assert type(result) is type(expected)


def test_dict_key_named_like_a_dict_method_is_the_key(ctx):
    # the design's own example: trigger.body.items must be the payload key, not dict.items
    assert render("{{ trigger.body.items[0].sku }}", ctx) == "A"
    assert render("{{ {'keys': 1}.keys }}", ctx) == 1


def test_nested_structures_render_every_string_and_keep_other_types(ctx):
    config = {
        "to": "{{ trigger.body.email }}",
        "subject": "Hi {{ trigger.body.name }}, score {{ trigger.body.score }}",
        "count": 3,
        "enabled": False,
        "lines": ["{{ trigger.body.items }}", "plain", None, 1.5],
        "nested": {"city": "{{ trigger.body.address.city }}", "id": "{{ steps.lookup.output.id }}"},
    }
    assert render(config, ctx) == {
        "to": "ann@example.com",
        "subject": "Hi Ann, score 72",
        "count": 3,
        "enabled": False,
        "lines": [[{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}], "plain", None, 1.5],
        "nested": {"city": "Lyon", "id": 42},
    }


def test_render_does_not_mutate_input(ctx):
    config = {"a": ["{{ trigger.body.score }}"]}
    render(config, ctx)
    assert config == {"a": ["{{ trigger.body.score }}"]}


def test_text_mixing_renders_to_str(ctx):
    assert render("Score: {{ trigger.body.score }}", ctx) == "Score: 72"
    assert render("{{ trigger.body.name }} <{{ trigger.body.email }}>", ctx) == "Ann <ann@example.com>"
    assert render("{{ trigger.body.score }}{{ trigger.body.score }}", ctx) == "7272"
    assert render("{% if trigger.body.vip %}VIP{% else %}std{% endif %}", ctx) == "VIP"


def test_text_mixing_shows_dicts_and_lists_as_json_and_none_as_empty(ctx):
    assert render("addr={{ trigger.body.address }}", ctx) == 'addr={"city": "Lyon"}'
    assert render("tags={{ steps.lookup.output.tags }}", ctx) == 'tags=["new", "lead"]'
    assert render("note=[{{ trigger.body.note }}]", ctx) == "note=[]"


def test_plain_strings_and_non_strings_pass_through(ctx):
    assert render("no expressions here { } }}", ctx) == "no expressions here { } }}"
    assert render(17, ctx) == 17
    assert render(None, ctx) is None


def test_missing_variables_are_lenient(ctx):
    assert render("{{ trigger.body.missing }}", ctx) is None
    assert render("{{ trigger.body.missing.deeper.still }}", ctx) is None
    assert render("{{ nothing_at_all }}", ctx) is None
    assert render("Hello {{ trigger.body.missing.a.b }}!", ctx) == "Hello !"
    assert render("{{ trigger.body.missing | default('n/a') }}", ctx) == "n/a"
    assert render("{{ [trigger.body.missing] }}", ctx) == [None]


def test_payload_with_expressions_is_not_rendered_twice(ctx):
    assert render("{{ trigger.body.evil }}", ctx) == "{{ 7*7 }}"
    assert render("Note: {{ trigger.body.evil }}", ctx) == "Note: {{ 7*7 }}"
    assert render("{{ trigger.body.evil_tag }}", ctx) == "{% for i in range(3) %}x{% endfor %}"
    assert render({"x": "{{ trigger.body }}"}, ctx)["x"]["evil"] == "{{ 7*7 }}"


def test_useful_filters_and_globals(ctx):
    assert render("{{ trigger.body.address | tojson }}", ctx) == '{"city": "Lyon"}'
    assert render("{{ trigger.body.name | upper }}", ctx) == "ANN"
    stamp = render("{{ now() }}", ctx)
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


def test_uncalled_function_is_a_clear_error(ctx):
    with pytest.raises(ExpressionError, match=r"did you mean to call it: now\(\)"):
        render("{{ now }}", ctx)


def test_contains_expression():
    assert contains_expression("Hi {{ name }}")
    assert contains_expression("{% if x %}y{% endif %}")
    assert not contains_expression("Hi {name}")
    assert not contains_expression("")


# ----------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("{{ trigger.body.score >= 50 }}", True),
        ("{{ trigger.body.score >= 80 }}", False),
        ("trigger.body.score >= 50", True),
        ("trigger.body.score >= 80", False),
        ("trigger.body.vip and trigger.body.address.city == 'Lyon'", True),
        ("trigger.body.missing", False),
        ("trigger.body.missing.deep == 3", False),
        ("{{ trigger.body.items }}", True),
        ("{{ [] }}", False),
        ("'lead' in steps.lookup.output.tags", True),
        ("{% if trigger.body.score > 100 %}yes{% endif %}", False),
        ("{% if trigger.body.score > 10 %}yes{% endif %}", True),
        ("", True),
    ],
)
def test_evaluate_condition(ctx, condition, expected):
    assert evaluate_condition(condition, ctx) is expected


def test_condition_errors_are_expression_errors(ctx):
    with pytest.raises(ExpressionError, match="syntax error"):
        evaluate_condition("trigger.body.score >=", ctx)
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        evaluate_condition("1 / 0", ctx)
    with pytest.raises(ExpressionError, match="not allowed"):
        evaluate_condition("trigger.__class__", ctx)


# ---------------------------------------------------------------------------- syntax check


def test_check_syntax_reports_dotted_paths():
    definition = {
        "name": "wf",
        "steps": [
            {"key": "a", "config": {"to": "{{ trigger.body.email }}", "subject": "Hi {{ name }"}},
            {"key": "b", "config": {"lines": ["ok", "{% if %}"], "n": 3}, "when": "{{ x >= }}"},
        ],
    }
    errors = check_syntax(definition)
    assert set(errors) == {"steps.0.config.subject", "steps.1.config.lines.1", "steps.1.when"}
    assert "unexpected '}'" in errors["steps.0.config.subject"]
    assert all(isinstance(message, str) and message for message in errors.values())


def test_check_syntax_clean_definition_and_prefix():
    assert check_syntax({"a": "{{ x }}", "b": ["plain", 1, None]}) == {}
    assert check_syntax("{{ x }", path="config.subject") == {"config.subject": "unexpected '}'"}


def test_syntax_error_while_rendering_names_the_expression(ctx):
    with pytest.raises(ExpressionError) as info:
        render({"subject": "Hi {{ name }"}, ctx)
    assert "Hi {{ name }" in str(info.value)
    assert "unexpected '}'" in str(info.value)


# ---------------------------------------------------------------------------- runtime errors


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ trigger.body.score + 'x' }}", "TypeError"),
        ("Total: {{ trigger.body.name / 2 }}", "TypeError"),
        ("{{ trigger.body.missing() }}", "UndefinedError"),
    ],
)
def test_runtime_errors_become_expression_errors(ctx, template, error):
    with pytest.raises(ExpressionError) as info:
        render(template, ctx)
    assert template in str(info.value)
    assert error in str(info.value)


def test_expression_error_is_permanent(ctx):
    with pytest.raises(PermanentError) as info:
        render("{{ 1 / 0 }}", ctx)
    assert info.value.retryable is False


# --------------------------------------------------------------------------- sandbox escapes


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''|attr('__class__') }}",
        "{{ (''|attr('__class__'))|attr('__mro__') }}",
        "{{ ((''|attr('__class__'))|attr('__base__'))|attr('__subclasses__') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
        "{{ trigger.__class__ }}",
        "{{ trigger.body.missing.__class__.__init__ }}",
        "{{ now.__globals__ }}",
        "{{ '{0.__class__}'.format(trigger) }}",
        "Text {{ ''.__class__ }} around",
    ],
)
def test_sandbox_escapes_are_refused(ctx, template):
    with pytest.raises(ExpressionError, match="is not allowed") as info:
        render(template, ctx)
    assert "unsafe" in str(info.value)


def test_unsafe_message_names_expression_and_attribute(ctx):
    with pytest.raises(ExpressionError) as info:
        render("{{ x.__class__ }}", ctx)
    assert str(info.value) == (
        "expression '{{ x.__class__ }}' is not allowed: access to attribute '__class__' is unsafe"
    )


def test_context_cannot_be_mutated(ctx):
    with pytest.raises(ExpressionError):
        render("{{ steps.lookup.output.tags.append('x') }}", ctx)
    with pytest.raises(ExpressionError):
        render("{{ trigger.body.address.update({'city': 'Paris'}) }}", ctx)
    assert ctx["steps"]["lookup"]["output"]["tags"] == ["new", "lead"]
    assert ctx["trigger"]["body"]["address"] == {"city": "Lyon"}


@pytest.mark.parametrize(
    "template",
    [
        "{{ range(10**9) | list }}",
        "{{ range(10**9) | length }}",
        "{% for i in range(10**9) %}{% endfor %}",
        "{{ 'a' * 10**9 }}",
        "{{ 10**9 * 'a' }}",
        "{{ [0] * 10**9 }}",
        "{{ ('a' * 1000) * 1000000 }}",
        "{{ 2 ** 1000000 }}",
        "{{ 10 ** 5000 }}",
        "{{ (2 ** 4000) * (2 ** 4000) }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ '{:999999999}'.format('a') }}",
        "{{ 'a'.center(999999999) }}",
        "{{ 'a' | center(999999999) }}",
        "{{ 'x' | indent(999999999) }}",
        "{{ ('a' * 1000) | replace('a', 'a' * 1000) | replace('a', 'a' * 1000) }}",
        "{{ ('a' * 1000).replace('a', 'a' * 1000).replace('a', 'a' * 1000) }}",
        "{{ ('a' * 900000).join(range(5000) | map('string') | list) }}",
        "{% set a = 'x' * 900000 %}{{ a ~ a ~ a }}",
        "{{ [1] | batch(10**9, 'x') | list }}",
        "{{ {} | tojson(indent=10**9) }}",
        "{{ lipsum(10**6) }}",
    ],
)
def test_resource_abuse_is_refused(ctx, template):
    with pytest.raises(ExpressionError):
        render(template, ctx)


def test_reasonable_sizes_still_work(ctx):
    assert render("{{ range(1000) | list | length }}", ctx) == 1000
    assert render("{{ '-' * 20 }}", ctx) == "-" * 20
    assert render("{{ 2 ** 64 }}", ctx) == 2**64
    assert render("{{ '%05d' % 42 }}", ctx) == "00042"


def test_compiled_templates_are_cached(ctx):
    from engine.expressions import _compile

    _compile.cache_clear()
    for _ in range(50):
        render("Hi {{ trigger.body.name }}", ctx)
    info = _compile.cache_info()
    assert info.misses == 1 and info.hits >= 49

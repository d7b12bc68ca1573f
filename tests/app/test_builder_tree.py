"""The builder's nested draft (issue 11): branches and loops load and save exactly, steps move
within and between lists, the expression helper follows scope, and errors land on nested fields."""

from __future__ import annotations

import copy

from engine.definition import validate_definition
from engine.errors import ValidationFailed
from flowmate_app.features.builder import draft as d
from flowmate_app.features.builder import tree
from flowmate_app.features.builder.views import step_views

#: The issue's example, as the builder and the export write it (description/enabled/timezone and
#: the webhook's methods are always part of an exported definition).
EXAMPLE = {
    "name": "Big orders", "description": "", "enabled": True, "timezone": "UTC",
    "trigger": {"type": "webhook", "config": {"methods": ["POST"]}},
    "steps": [
        {"key": "route", "action": "flow.branch", "config": {"mode": "first_match"},
         "branches": [
             {"key": "big", "name": "Over $1,000", "when": "{{ trigger.body.total > 1000 }}",
              "steps": [{"key": "ok", "action": "flow.approval",
                         "config": {"message": "Approve order {{ trigger.body.id }}?", "approver_role": "admin",
                                    "timeout_s": 86400, "on_timeout": "fail"}}]},
             {"key": "small", "name": "Otherwise", "default": True, "steps": []}]},
        {"key": "each_item", "action": "flow.loop",
         "config": {"items": "{{ trigger.body.items }}", "concurrency": 1, "max_items": 1000},
         "steps": [{"key": "supplier", "action": "http.request",
                    "config": {"method": "POST", "url": "https://supplier.example/stock",
                               "json": {"sku": "{{ loop.item.sku }}", "n": "{{ loop.index }}"}}}]},
        {"key": "invoice", "action": "flow.call_workflow",
         "config": {"workflow_id": "<id>", "payload": {"order": "{{ trigger.body }}"}, "wait": True}},
        {"key": "done", "action": "core.log", "config": {"message": "{{ steps.each_item.output.count }} items"}},
    ],
}


def _example_draft() -> d.Draft:
    return d.draft_from_definition(copy.deepcopy(EXAMPLE))


def test_the_issue_example_round_trips_exactly() -> None:
    again, errors = d.to_definition(_example_draft())
    assert errors == {}
    assert again == EXAMPLE


def test_on_error_retry_and_nested_retry_round_trip() -> None:
    source = copy.deepcopy(EXAMPLE)
    source["steps"][1]["steps"][0]["on_error"] = "continue"
    source["steps"][1]["steps"][0]["retry"] = {"max_attempts": 5, "initial_delay_s": 1.0, "factor": 2.0,
                                               "max_delay_s": 300.0}
    source["steps"][3]["retry"] = {"max_attempts": 3, "initial_delay_s": 1.0, "factor": 2.0, "max_delay_s": 300.0}
    assert d.to_definition(d.draft_from_definition(copy.deepcopy(source)))[0] == source


def test_new_branch_and_loop_steps_start_with_their_lists() -> None:
    draft = d.Draft(trigger_type="webhook")
    branch = tree.add_step(draft, "flow.branch")
    loop = tree.add_step(draft, "flow.loop")
    assert [b.key for b in branch.branches] == ["path_1", "otherwise"] and branch.branches[1].default
    assert loop.steps == []
    inner = tree.add_step(draft, "core.log", loop.uid)
    in_branch = tree.add_step(draft, "core.log", f"{branch.uid}.{branch.branches[0].uid}")
    assert inner.key == "log" and in_branch.key == "log_2"  # keys are unique in the whole tree
    definition, _ = d.to_definition(draft)
    assert definition["steps"][1]["steps"][0]["key"] == "log"
    assert definition["steps"][0]["branches"][0]["steps"][0]["key"] == "log_2"


def test_steps_move_within_and_between_lists() -> None:
    draft = _example_draft()
    route, loop = draft.steps[0], draft.steps[1]
    done = draft.steps[3]
    labels = dict(tree.move_targets(draft, done.uid))
    assert labels == {loop.uid: "Inside loop “each_item”",
                      f"{route.uid}.{route.branches[0].uid}": "Branch “Over $1,000” of “route”",
                      f"{route.uid}.{route.branches[1].uid}": "Branch “Otherwise” of “route”"}
    assert tree.move_to(draft, done.uid, loop.uid)
    assert [s.key for s in loop.steps] == ["supplier", "done"]
    assert tree.move_step(draft, done.uid, -1) and [s.key for s in loop.steps] == ["done", "supplier"]
    assert not tree.move_step(draft, done.uid, -1)  # already first in its list
    assert tree.move_to(draft, done.uid, tree.ROOT) and draft.steps[-1].key == "done"
    # A container never moves into itself.
    assert loop.uid not in dict(tree.move_targets(draft, loop.uid))
    assert not tree.move_to(draft, loop.uid, loop.uid)


def test_a_loop_never_moves_or_is_added_deeper_than_four_loops() -> None:
    draft = d.Draft(trigger_type="manual")
    lane = tree.ROOT
    for _ in range(4):
        lane = tree.add_step(draft, "flow.loop", lane).uid
    assert tree.add_step(draft, "flow.loop", lane) is None
    extra = tree.add_step(draft, "flow.loop")
    assert lane not in dict(tree.move_targets(draft, extra.uid))


def test_branch_edits_keep_one_default() -> None:
    draft = _example_draft()
    route = draft.steps[0]
    big, small = route.branches
    added = tree.add_branch(draft, route.uid)
    assert [b.key for b in route.branches] == ["big", "path_3", "small"]  # before the default
    assert tree.set_branch(draft, route.uid, added.uid, "default", True)
    assert [b.default for b in route.branches] == [False, True, False]
    assert tree.move_branch(draft, route.uid, added.uid, 1) and route.branches[-1] is added
    assert tree.remove_branch(draft, route.uid, added.uid) and tree.remove_branch(draft, route.uid, small.uid)
    assert not tree.remove_branch(draft, route.uid, big.uid)  # a branch step keeps one branch


def test_expression_helper_follows_scope() -> None:
    draft = _example_draft()
    route = draft.steps[0]
    tree.add_step(draft, "flow.wait_for_event")
    draft.steps[-1].key = "wait_ok"
    in_small = tree.add_step(draft, "core.log", f"{route.uid}.{route.branches[1].uid}")
    views = step_views(draft, d.action_catalogue(), {}, [], {"total": 5})
    by_key = {v.key: v for v in _flatten(views)}
    supplier = by_key["supplier"].refs
    assert {"loop.item", "loop.index", "loop.first", "loop.last"} <= set(supplier)
    assert "steps.route.output" in supplier and "resume_url('wait_ok')" in supplier
    small_refs = by_key[in_small.key].refs
    assert "steps.ok.output" not in small_refs  # another branch of the same branch step
    assert not any(r.startswith("loop.") for r in small_refs)
    done = by_key["done"].refs
    assert "steps.each_item.output" in done and "steps.supplier.output" not in done  # inside an earlier loop
    assert "steps.invoice.output" not in by_key["route"].refs  # a later step


def test_nested_validation_errors_land_on_the_nested_field() -> None:
    draft = _example_draft()
    route = draft.steps[0]
    route.branches[0].when = ""
    draft.steps[1].steps[0].values["url"] = ""
    definition, local = d.to_definition(draft)
    try:
        validate_definition(definition)
        errors: dict[str, str] = {}
    except ValidationFailed as exc:
        errors = dict(exc.fields)
    errors = {**d.config_errors(definition), **errors, **local}
    assert "steps.0.branches.0.when" in errors and "steps.1.steps.0.config.url" in errors
    views = {v.key: v for v in _flatten(step_views(draft, d.action_catalogue(), errors, []))}
    lane = views["route"].lanes[0]
    assert lane.when_error and not views["route"].when_error
    url = next(f for f in views["supplier"].fields if f.name == "url")
    assert url.error and views["supplier"].error_count >= 1
    assert views["each_item"].general_error == ""  # the loop itself is fine


def _flatten(views: list) -> list:
    out = []
    for view in views:
        out.append(view)
        for lane in view.lanes:
            out += _flatten(lane.steps)
    return out


def test_every_flow_template_round_trips_through_the_draft() -> None:
    """The gallery's flow-control templates open in the builder and save back unchanged."""
    from engine.catalog.flow_templates import FLOW_TEMPLATES
    from engine.catalog.service import render_template, validate_variables

    for template in FLOW_TEMPLATES:
        original = render_template(template, validate_variables(template, {}))
        again, errors = d.to_definition(d.draft_from_definition(copy.deepcopy(original)))
        assert errors == {}, template.slug
        assert validate_definition(again).model_dump() == validate_definition(original).model_dump(), template.slug
        assert again["steps"] == original["steps"], template.slug

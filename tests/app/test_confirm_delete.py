"""The shared ask-then-delete flow (ConfirmDeleteMixin) as the workflows and members states use it."""

from __future__ import annotations

from typing import Any

import pytest
from reflex.state import State

from engine.db import session_scope
from engine.services import workflows, workspaces
from engine.services.accounts import actor_for_user, create_user, create_workspace
from engine.services.actor import Actor
from flowmate_app.auth import AuthState
from flowmate_app.features.settings.state import MembersState
from flowmate_app.features.workflows.state import WorkflowsState


@pytest.fixture
def owner(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> Actor:
    with session_scope() as session:
        ws = create_workspace(session, "Team")
        actor = actor_for_user(session, create_user(session, "owner@example.com", "password123", ws, role="owner"),
                               ws.id)
    monkeypatch.setattr(AuthState, "actor", lambda self: actor)
    return actor


def substate(cls: type[State]) -> Any:
    return State(_reflex_internal_init=True).get_substate(cls.get_full_name().split(".")[1:])


def toast(spec: Any) -> str:
    """The JavaScript a returned rx.toast runs, e.g. ``refs['__toast']?.["success"]("Removed …")``."""
    return str(spec.args[0][1]).encode().decode("unicode_escape")


def test_workflow_delete_asks_then_deletes(owner: Actor) -> None:
    with session_scope() as session:
        wf_id = workflows.create_workflow(session, owner, {"name": "Doomed", "trigger": {"type": "manual"},
                                                           "steps": []}).id
    state = substate(WorkflowsState)
    state.rows = [{"id": wf_id, "name": "Doomed"}]
    WorkflowsState.ask_delete.fn(state, wf_id, "Doomed")
    assert (state.confirm_open, state.confirm_id, state.confirm_name) == (True, wf_id, "Doomed")
    WorkflowsState.set_confirm_open.fn(state, False)  # Cancel: nothing happens
    assert not state.confirm_open
    with session_scope() as session:
        assert len(workflows.list_workflows(session, owner)["items"]) == 1

    WorkflowsState.ask_delete.fn(state, wf_id, "Doomed")
    assert '["success"]("Deleted “Doomed”")' in toast(WorkflowsState.delete_confirmed.fn(state))
    assert (state.confirm_open, state.confirm_id, state.rows) == (False, "", [])
    with session_scope() as session:
        assert workflows.list_workflows(session, owner)["items"] == []

    # A second confirm with nothing picked does nothing.
    assert WorkflowsState.delete_confirmed.fn(state) is None


def test_member_remove_uses_the_same_flow(owner: Actor) -> None:
    with session_scope() as session:
        create_user(session, "editor@example.com", "password123", create_workspace(session, "Elsewhere"))
        added = workspaces.add_member_by_email(session, owner, "editor@example.com", "editor")
    state = substate(MembersState)
    MembersState.ask_delete.fn(state, added["user_id"], "editor@example.com")
    assert '["success"]("Removed editor@example.com")' in toast(MembersState.delete_confirmed.fn(state))
    assert not state.confirm_open
    assert [m["email"] for m in state.members] == ["owner@example.com"]

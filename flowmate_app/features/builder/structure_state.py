"""Builder events that change the shape of the step tree: steps added to a branch or loop,
moved between lists, branches added/removed/reordered/edited, per-step ``on_error``.

A small substate (Reflex's scaling guidance): it has no vars of its own, and its handlers edit
BuilderState's draft through the pure functions in tree.py, then let BuilderState rebuild the
views. Keeping them apart keeps BuilderState about loading, fields and saving.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from flowmate_app.features.builder import tree
from flowmate_app.features.builder.state import BuilderState
from flowmate_app.features.builder.views import ON_ERROR_OPTIONS


class StructureState(BuilderState):
    """Tree edits of the builder (see module docstring)."""

    async def _builder(self) -> BuilderState | None:
        builder = await self.get_state(BuilderState)
        return builder if builder._draft is not None and builder.can_edit else None

    def _changed(self, builder: BuilderState) -> None:
        # Moving things changes every location after them: old errors would point at the wrong place.
        builder.errors = {}
        builder._edited()

    @rx.event
    async def add_step_to(self, lane_id: str, action: str) -> Any:
        builder = await self._builder()
        if builder is None or action not in builder._catalogue():
            return None
        step = tree.add_step(builder._draft, action, lane_id, builder._catalogue())
        if step is None:
            return rx.toast.error("A step cannot be added there (loops nest at most 4 deep)")
        self._changed(builder)
        return rx.scroll_to(f"step-{step.uid}")

    @rx.event
    async def move_to(self, uid: str, lane_id: str) -> Any:
        builder = await self._builder()
        if builder is None:
            return None
        if not tree.move_to(builder._draft, uid, lane_id):
            return rx.toast.error("The step cannot move there")
        self._changed(builder)
        return rx.scroll_to(f"step-{uid}")

    @rx.event
    async def set_on_error(self, uid: str, value: str) -> None:
        builder = await self._builder()
        found = tree.find_step(builder._draft, uid) if builder else None
        if builder is None or found is None or value not in ON_ERROR_OPTIONS:
            return
        found[1].on_error = value
        builder.errors = {k: v for k, v in builder.errors.items() if k != f"{found[0]}.on_error"}
        builder._edited()

    @rx.event
    async def add_branch(self, uid: str) -> None:
        builder = await self._builder()
        if builder is not None and tree.add_branch(builder._draft, uid) is not None:
            self._changed(builder)

    @rx.event
    async def remove_branch(self, uid: str, branch_uid: str) -> None:
        builder = await self._builder()
        if builder is not None and tree.remove_branch(builder._draft, uid, branch_uid):
            self._changed(builder)

    @rx.event
    async def move_branch(self, uid: str, branch_uid: str, delta: int) -> None:
        builder = await self._builder()
        if builder is not None and tree.move_branch(builder._draft, uid, branch_uid, int(delta)):
            self._changed(builder)

    @rx.event
    async def set_branch(self, uid: str, branch_uid: str, attr: str, value: str) -> None:
        """Key, name or condition of a branch (errors of that field are cleared as it changes)."""
        builder = await self._builder()
        if builder is None or attr not in ("key", "name", "when"):
            return
        self._set_branch(builder, uid, branch_uid, attr, value)

    @rx.event
    async def set_branch_default(self, uid: str, branch_uid: str, value: bool) -> None:
        builder = await self._builder()
        if builder is not None:
            self._set_branch(builder, uid, branch_uid, "default", bool(value))

    @rx.event
    async def insert_branch_reference(self, uid: str, branch_uid: str, reference: str) -> Any:
        builder = await self._builder()
        if builder is None:
            return None
        found = tree.find_step(builder._draft, uid)
        branch = next((b for b in (found[1].branches or []) if b.uid == branch_uid), None) if found else None
        if branch is None:
            return None
        from flowmate_app.features.builder.draft import insert_reference

        self._set_branch(builder, uid, branch_uid, "when", insert_reference(branch.when, reference))
        return rx.call_script(f"setTimeout(() => document.getElementById('bwhen-{branch_uid}')?.focus(), 50)")

    def _set_branch(self, builder: BuilderState, uid: str, branch_uid: str, attr: str, value: Any) -> None:
        found = tree.find_step(builder._draft, uid)
        if found is None or not tree.set_branch(builder._draft, uid, branch_uid, attr, value):
            return
        index = next(i for i, b in enumerate(found[1].branches or []) if b.uid == branch_uid)
        path = f"{found[0]}.branches.{index}.{attr}"
        builder.errors = {k: v for k, v in builder.errors.items() if not (k == path or k.startswith(path + "."))}
        builder._edited()

"""Structural edits of the builder's draft: steps in nested lists (branches, loops) and moves
between them.

A workflow's steps form a tree: the top-level list, each flow.loop step's inner list and each
branch of a flow.branch step. Every list is a *lane* with an id the page can send back
(``root``, ``<loop step uid>``, ``<branch step uid>.<branch uid>``). Pure Python like draft.py,
so every edit is unit-tested without a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.definition import BRANCH_ACTION, LOOP_ACTION, MAX_LOOP_DEPTH
from flowmate_app.features.builder.draft import (
    RETRY_FIELDS,
    ActionInfo,
    BranchDraft,
    Draft,
    StepDraft,
    _num,
    action_catalogue,
    new_uid,
    suggest_key,
)
from flowmate_app.features.builder.schema_form import initial_raw

ROOT = "root"



@dataclass
class Lane:
    """One list of steps in the tree and where it sits."""

    id: str
    steps: list[StepDraft]
    prefix: str  # location prefix of its steps: "" or "steps.1." or "steps.1.branches.0."
    owner: StepDraft | None = None
    branch: BranchDraft | None = None
    loops: int = 0  # loops enclosing this lane's steps
    ancestors: tuple[str, ...] = ()  # uids of the container steps around this lane, outermost first
    label: str = "Top level"


def lanes(draft: Draft) -> Iterator[Lane]:
    """Every lane, depth first in execution order (a lane before the lanes inside its steps)."""

    def walk(lane: Lane) -> Iterator[Lane]:
        yield lane
        for index, step in enumerate(lane.steps):
            loc = f"{lane.prefix}steps.{index}"
            inside = (*lane.ancestors, step.uid)
            if step.steps is not None:
                yield from walk(Lane(step.uid, step.steps, loc + ".", step, None,
                                     lane.loops + (step.action == LOOP_ACTION), inside,
                                     f"Inside loop “{step.key}”"))
            for b_index, branch in enumerate(step.branches or []):
                yield from walk(Lane(f"{step.uid}.{branch.uid}", branch.steps, f"{loc}.branches.{b_index}.", step,
                                     branch, lane.loops, inside,
                                     f"Branch “{branch.name or branch.key}” of “{step.key}”"))

    yield from walk(Lane(ROOT, draft.steps, ""))


def get_lane(draft: Draft, lane_id: str) -> Lane | None:
    return next((lane for lane in lanes(draft) if lane.id == lane_id), None)


def lane_of(draft: Draft, uid: str) -> tuple[Lane, int] | None:
    """The lane holding step ``uid`` and the step's index in it."""
    for lane in lanes(draft):
        for index, step in enumerate(lane.steps):
            if step.uid == uid:
                return lane, index
    return None


def find_step(draft: Draft, uid: str) -> tuple[str, StepDraft] | None:
    """(dotted location such as ``steps.1.branches.0.steps.0``, step) of step ``uid``."""
    found = lane_of(draft, uid)
    if found is None:
        return None
    lane, index = found
    return f"{lane.prefix}steps.{index}", lane.steps[index]


def all_steps(draft: Draft) -> Iterator[StepDraft]:
    for lane in lanes(draft):
        yield from lane.steps


def all_keys(draft: Draft) -> set[str]:
    """Step keys are unique in the whole workflow, nested steps included."""
    return {s.key for s in all_steps(draft)}


def loop_depth(step: StepDraft) -> int:
    """How many loops deep ``step`` and everything inside it go (0 for a plain step)."""
    inner = [loop_depth(s) for s in step.steps or []]
    inner += [loop_depth(s) for b in step.branches or [] for s in b.steps]
    return (step.action == LOOP_ACTION) + max(inner, default=0)


def new_step(draft: Draft, action: str, catalogue: dict[str, ActionInfo] | None = None) -> StepDraft:
    """A fresh step with its form's initial values (a branch step gets two branches to start)."""
    catalogue = catalogue if catalogue is not None else action_catalogue()
    info = catalogue[action]
    step = StepDraft(
        uid=new_uid(), key=suggest_key(action, all_keys(draft)), action=action,
        values={spec.name: initial_raw(spec) for spec in info.fields},
        retry={name: _num(default) for name, _label, default in RETRY_FIELDS},
    )
    if action == BRANCH_ACTION:
        step.branches = [BranchDraft(uid=new_uid(), key="path_1", name="Path 1"),
                         BranchDraft(uid=new_uid(), key="otherwise", name="Otherwise", default=True)]
    elif action == LOOP_ACTION:
        step.steps = []
    return step


def add_step(draft: Draft, action: str, lane_id: str = ROOT,
             catalogue: dict[str, ActionInfo] | None = None) -> StepDraft | None:
    """Append a new ``action`` step to lane ``lane_id``; None when the lane does not exist or a
    loop would nest deeper than allowed."""
    lane = get_lane(draft, lane_id)
    if lane is None or (action == LOOP_ACTION and lane.loops + 1 > MAX_LOOP_DEPTH):
        return None
    step = new_step(draft, action, catalogue)
    lane.steps.append(step)
    return step


def move_step(draft: Draft, uid: str, delta: int) -> bool:
    """Move a step up (-1) or down (+1) in its own list; False when it is already at that end."""
    found = lane_of(draft, uid)
    if found is None:
        return False
    lane, index = found
    target = index + delta
    if not 0 <= target < len(lane.steps):
        return False
    step = lane.steps.pop(index)
    lane.steps.insert(target, step)
    return True


def move_targets(draft: Draft, uid: str) -> list[tuple[str, str]]:
    """(lane id, label) of every list step ``uid`` may move to: not its own list, not a list
    inside itself, and not where a loop would nest deeper than allowed."""
    found = lane_of(draft, uid)
    if found is None:
        return []
    current, index = found
    step = current.steps[index]
    depth = loop_depth(step)
    return [(lane.id, lane.label) for lane in lanes(draft)
            if lane.id != current.id and uid not in lane.ancestors and lane.loops + depth <= MAX_LOOP_DEPTH]


def move_to(draft: Draft, uid: str, lane_id: str) -> bool:
    """Move step ``uid`` (with everything inside it) to the end of lane ``lane_id``."""
    if lane_id not in {target for target, _label in move_targets(draft, uid)}:
        return False
    found = lane_of(draft, uid)
    target = get_lane(draft, lane_id)
    if found is None or target is None:
        return False
    lane, index = found
    target.steps.append(lane.steps.pop(index))
    return True


def remove_step(draft: Draft, uid: str) -> bool:
    found = lane_of(draft, uid)
    if found is None:
        return False
    lane, index = found
    lane.steps.pop(index)
    return True


def set_step_field(draft: Draft, uid: str, name: str, value: str) -> bool:
    found = find_step(draft, uid)
    if found is None:
        return False
    found[1].values[name] = value
    return True


# --------------------------------------------------------------------------- branches


def _branch(draft: Draft, uid: str, branch_uid: str) -> tuple[StepDraft, int, BranchDraft] | None:
    found = find_step(draft, uid)
    if found is None or found[1].branches is None:
        return None
    step = found[1]
    for index, branch in enumerate(step.branches or []):
        if branch.uid == branch_uid:
            return step, index, branch
    return None


def add_branch(draft: Draft, uid: str) -> BranchDraft | None:
    """A new branch, placed before the default branch (the default is tried last)."""
    found = find_step(draft, uid)
    if found is None or found[1].branches is None:
        return None
    branches = found[1].branches
    taken = {b.key for b in branches}
    n = len(branches) + 1
    while f"path_{n}" in taken:
        n += 1
    branch = BranchDraft(uid=new_uid(), key=f"path_{n}", name=f"Path {n}")
    default_at = next((i for i, b in enumerate(branches) if b.default), len(branches))
    branches.insert(default_at, branch)
    return branch


def remove_branch(draft: Draft, uid: str, branch_uid: str) -> bool:
    """Remove a branch and its steps; a branch step keeps at least one branch."""
    found = _branch(draft, uid, branch_uid)
    if found is None or len(found[0].branches or []) <= 1:
        return False
    step, index, _branch_draft = found
    (step.branches or []).pop(index)
    return True


def move_branch(draft: Draft, uid: str, branch_uid: str, delta: int) -> bool:
    """Branches are tried in order (first_match): move one left (-1) or right (+1)."""
    found = _branch(draft, uid, branch_uid)
    if found is None:
        return False
    step, index, branch = found
    branches = step.branches or []
    target = index + delta
    if not 0 <= target < len(branches):
        return False
    branches.pop(index)
    branches.insert(target, branch)
    return True


def set_branch(draft: Draft, uid: str, branch_uid: str, attr: str, value: Any) -> bool:
    """Set a branch's key, name or condition, or make it (or stop it being) the default branch;
    one branch at most is the default."""
    found = _branch(draft, uid, branch_uid)
    if found is None:
        return False
    step, _index, branch = found
    if attr == "default":
        for other in step.branches or []:
            other.default = False
        branch.default = bool(value)
    elif attr == "key":
        branch.key = "_".join(str(value).strip().lower().replace("-", " ").split(" "))
    elif attr in ("name", "when"):
        setattr(branch, attr, str(value))
    else:
        return False
    return True


# --------------------------------------------------------------------------- scope


def skeleton(draft: Draft) -> dict[str, Any]:
    """The tree's shape (keys, actions, nesting) as definition JSON: enough for
    engine.definition.visible_steps, without converting every field."""

    def one(step: StepDraft) -> dict[str, Any]:
        out: dict[str, Any] = {"key": step.key, "action": step.action}
        if step.steps is not None:
            out["steps"] = [one(s) for s in step.steps]
        if step.branches is not None:
            out["branches"] = [{"key": b.key, "steps": [one(s) for s in b.steps]} for b in step.branches]
        return out

    return {"steps": [one(s) for s in draft.steps]}

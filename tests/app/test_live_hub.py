"""The web process's one bus subscription (flowmate_app/live.py) fans messages out to the
followers of the message's workspace only, from any publishing thread onto their event loop."""

from __future__ import annotations

import asyncio
import threading

from engine import bus
from flowmate_app import live


def test_one_subscription_fans_out_by_workspace(sqlite_db: str) -> None:
    hub = live.Hub()

    async def scenario() -> tuple[list, list, list]:
        a1, a2, b = hub.open("ws-a"), hub.open("ws-a"), hub.open("ws-b")
        assert len(bus.get_bus()._callbacks) == 1  # one subscription for all followers
        # Published from a worker thread, like the embedded executor does.
        t = threading.Thread(target=bus.run_changed, args=("r1", "succeeded"), kwargs={"workspace_id": "ws-a"})
        t.start()
        t.join()
        got_a1, _ = await a1.wait(5)
        got_a2, _ = await a2.wait(5)
        got_b, _ = await b.wait(0.2)  # nothing for the other workspace
        hub.close(a2)
        bus.step_changed("r1", "call", "running", attempts=1, workspace_id="ws-a")
        later_a1, _ = await a1.wait(5)
        assert hub.followers() == 2
        return got_a1 + later_a1, got_a2, got_b

    a1, a2, b = asyncio.run(scenario())
    assert [m["status"] for m in a1] == ["succeeded", "running"]
    assert a2 == [{"kind": "run", "run_id": "r1", "status": "succeeded", "workspace_id": "ws-a"}]
    assert b == []


def test_next_change_waits_for_its_run(sqlite_db: str) -> None:
    hub = live.Hub()

    async def scenario() -> bool:
        sub = hub.open("ws-a")
        loop = asyncio.get_running_loop()
        waiter = asyncio.create_task(live.next_change(sub, "r2"))
        await asyncio.sleep(0.05)
        bus.run_changed("r1", "running", workspace_id="ws-a")  # another run: keep waiting
        await asyncio.sleep(0.1)
        other_woke = waiter.done()
        loop.call_later(0.05, lambda: bus.step_changed("r2", "call", "succeeded", attempts=1, workspace_id="ws-a"))
        await asyncio.wait_for(waiter, 5)
        return other_woke

    assert asyncio.run(scenario()) is False

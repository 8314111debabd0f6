"""The change feed, histories and asynchronous batches, in both modes."""

import asyncio
import datetime
import threading
import time
import uuid
from typing import Any, Union

import pytest

import omnex

Engine = Union[omnex.Omnex, omnex.Client]
AsyncEngine = Union[omnex.AsyncOmnex, omnex.AsyncClient]


def kinds(events: list[omnex.Event]) -> list[tuple[str, int]]:
    return [(e.kind, e.version) for e in events]


def data(event: omnex.Event) -> dict[str, Any]:
    assert event.data is not None, f"{event} carries no data"
    return event.data


def test_changes_and_histories(db: Engine, ns: str) -> None:
    db.contexts.put(ns, "plans/next", {"step": 1})
    db.contexts.put(ns, "plans/next", {"step": 2})
    m = db.memories.add("Alice prefers window seats", namespace=ns, user_id="alice")
    db.memories.update(m.id, metadata={"source": "chat"})
    db.memories.delete(m.id)

    page = db.changes(namespaces=[ns], include_data=True)
    assert isinstance(page, omnex.EventPage)
    assert kinds(page.events) == [
        ("context.put", 1),
        ("context.put", 2),
        ("memory.add", 1),
        ("memory.update", 2),
        ("memory.delete", 2),
    ]
    assert not page.more and page.oldest <= page.events[0].seq
    first, added = page.events[0], page.events[2]
    assert isinstance(first, omnex.Event)
    assert isinstance(first.at, datetime.datetime) and first.at.tzinfo is not None
    assert (first.namespace, first.key, data(first)["value"]) == (ns, "plans/next", {"step": 1})
    assert (added.id, added.user_id, added.key) == (m.id, "alice", None)
    assert data(added)["content"] == "Alice prefers window seats"
    assert page.events[4].data is None, "a delete carries no data"
    d = added.to_dict()
    assert d["seq"] == added.seq and d["kind"] == "memory.add" and d["data"] == added.data

    # Resuming from `next` repeats nothing; data comes only when asked for.
    assert db.changes(page.next, namespaces=[ns]).events == []
    two = db.changes(namespaces=[ns], limit=2)
    assert len(two.events) == 2 and two.more and all(e.data is None for e in two.events)
    rest = db.changes(two.next, namespaces=[ns])
    assert [e.seq for e in two.events + rest.events] == [e.seq for e in page.events]
    memory_only = db.changes(namespaces=[ns], kinds=["memory.*"])
    assert [e.kind for e in memory_only.events] == ["memory.add", "memory.update", "memory.delete"]
    with pytest.raises(omnex.InvalidInputError) as e:
        db.changes(kinds=["memory.moved"])
    assert e.value.field == "kinds"

    history = db.memories.history(m.id)
    assert kinds(history) == [("memory.add", 1), ("memory.update", 2), ("memory.delete", 2)]
    assert data(history[1])["metadata"] == {"source": "chat"}
    versions = db.contexts.history(ns, "plans/next")
    got = [(e.version, data(e)["value"]) for e in versions]
    assert got == [(1, {"step": 1}), (2, {"step": 2})]
    with pytest.raises(omnex.NotFoundError):
        db.memories.history(str(uuid.uuid4()))
    with pytest.raises(omnex.NotFoundError):
        db.contexts.history(ns, "absent")


def test_follow_yields_events_written_after_it_started(db: Engine, ns: str) -> None:
    db.contexts.put(ns, "before", 0)
    head = db.changes(namespaces=[ns]).next
    follower = db.follow(head, namespaces=[ns], poll_interval=0.05)
    assert isinstance(follower, omnex.EventFollower)
    seen: list[omnex.Event] = []

    def read() -> None:
        for event in follower:
            seen.append(event)
            if len(seen) == 2:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)  # the reader has caught up and waits for news
    db.contexts.put(ns, "after", 1)
    m = db.memories.add("Bob sails on Sundays", namespace=ns)
    reader.join(timeout=30)
    assert not reader.is_alive(), f"follow() yielded only {seen}"
    got = [(e.kind, e.key or e.id) for e in seen]
    assert got == [("context.put", "after"), ("memory.add", m.id)]
    with pytest.raises(omnex.InvalidInputError) as e:
        db.follow(poll_interval=0)
    assert e.value.field == "poll_interval"


def test_add_async_job_reaches_done(db: Engine, ns: str) -> None:
    items: list[Union[str, dict[str, Any]]] = [
        "Bob flies on Tuesdays",
        {"content": "Bob likes aisle seats", "user_id": "bob"},
    ]
    job = db.memories.add_async(items, namespace=ns)
    assert isinstance(job, omnex.Job)
    assert (job.kind, job.total) == ("embed", 2)
    deadline = time.monotonic() + 60
    while not job.finished:
        assert time.monotonic() < deadline, f"not done in 60 s: {job}"
        time.sleep(0.1)
        job = db.job(job.id)
    assert (job.status, job.done, job.error) == ("done", 2, None), job.to_dict()
    assert job.finished_at is not None
    listed = {(m.content, m.user_id) for m in db.memories.list(namespace=ns)}
    assert listed == {("Bob flies on Tuesdays", None), ("Bob likes aisle seats", "bob")}
    assert db.cancel_job(job.id).status == "done", "a finished job stays as it is"
    with pytest.raises(omnex.NotFoundError):
        db.job("no-such-job")
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.add_async([], namespace=ns)
    assert e.value.field == "memories"


def test_async_feed_history_and_jobs(adb: AsyncEngine, ns: str) -> None:
    async def main() -> None:
        await adb.contexts.put(ns, "before", 0)
        head = (await adb.changes(namespaces=[ns])).next
        follower = adb.follow(head, namespaces=[ns], poll_interval=0.05)
        assert isinstance(follower, omnex.AsyncEventFollower)

        async def write() -> omnex.Memory:
            await asyncio.sleep(0.3)
            await adb.contexts.put(ns, "after", 1)
            return await adb.memories.add("Carol keeps bees", namespace=ns)

        writer = asyncio.create_task(write())
        first = await asyncio.wait_for(follower.__anext__(), timeout=30)
        second = await asyncio.wait_for(follower.__anext__(), timeout=30)
        m = await writer
        got = [(first.kind, first.key), (second.kind, second.id)]
        assert got == [("context.put", "after"), ("memory.add", m.id)]

        seen = []
        async for event in adb.follow(namespaces=[ns], kinds=["context.put"]):
            seen.append(event.key)
            if len(seen) == 2:
                break
        assert seen == ["before", "after"]

        assert kinds(await adb.memories.history(m.id)) == [("memory.add", 1)]
        assert [e.version for e in await adb.contexts.history(ns, "after")] == [1]
        job = await adb.memories.add_async(["Dan sails"], namespace=ns)
        deadline = time.monotonic() + 60
        while not job.finished:
            assert time.monotonic() < deadline, f"not done in 60 s: {job}"
            await asyncio.sleep(0.1)
            job = await adb.job(job.id)
        assert job.status == "done"
        assert (await adb.cancel_job(job.id)).status == "done"

    asyncio.run(main())

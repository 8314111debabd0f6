import asyncio
import threading

import pytest

import omnex


def test_async_api(adb, ns):
    async def main():
        c = await adb.contexts.put(ns, "k", {"v": 1}, tags=["t"])
        assert c.version == 1
        assert (await adb.contexts.get(ns, "k")).value == {"v": 1}
        with pytest.raises(omnex.ConflictError):
            await adb.contexts.put(ns, "k", 2, if_version=5)
        keys = [c.key async for c in adb.contexts.list(namespace=ns, page_size=1)]
        assert keys == ["k"]
        await adb.contexts.delete(ns, "k")

        m = await adb.memories.add("Carol keeps bees", namespace=ns, user_id="carol")
        many = await adb.memories.add_many(["Dan sails", "Eve paints"], namespace=ns)
        assert [x.content for x in many] == ["Dan sails", "Eve paints"]
        assert (await adb.memories.get(m.id)).content == "Carol keeps bees"
        assert (await adb.memories.update(m.id, metadata={"hobby": True})).metadata == {"hobby": True}
        # Calls run concurrently on the event loop.
        results = await asyncio.gather(*[adb.memories.search(q, namespace=ns, limit=1) for q in ("honey", "boats", "art")])
        assert [r[0].memory.content for r in results] == ["Carol keeps bees", "Dan sails", "Eve paints"]
        listed = [x.content async for x in adb.memories.list(namespace=ns, page_size=2)]
        assert listed == ["Carol keeps bees", "Dan sails", "Eve paints"]
        await adb.memories.delete(m.id)
        with pytest.raises(omnex.NotFoundError):
            await adb.memories.get(m.id)

    asyncio.run(main())


def test_gil_is_released_while_embedding(embedded, ns):
    """Another Python thread keeps running while a long call embeds in Rust."""
    texts = [f"a sentence about topic number {i}, long enough to take a moment to embed" for i in range(400)]
    worker = threading.Thread(target=lambda: embedded.memories.add_many(texts, namespace=ns))
    ticks = 0
    worker.start()
    while worker.is_alive():
        ticks += 1
    worker.join()
    assert ticks > 10_000, f"the main thread advanced only {ticks} times during the call"
    assert len(list(embedded.memories.list(namespace=ns))) == 400


def test_threads_share_one_engine(db, ns):
    errors = []

    def work(i):
        try:
            m = db.memories.add(f"thread {i} fact", namespace=ns, user_id=f"u{i}")
            assert db.memories.search(f"thread {i}", namespace=ns, user_id=f"u{i}", limit=1)[0].memory.id == m.id
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

import pytest

import omnex


def test_add_get_update_delete(db, ns):
    m = db.memories.add("Alice is allergic to peanuts", namespace=ns, user_id="alice", metadata={"topic": "health", "n": 3})
    assert isinstance(m, omnex.Memory)
    assert (m.content, m.namespace, m.user_id, m.agent_id) == ("Alice is allergic to peanuts", ns, "alice", None)
    assert m.metadata == {"topic": "health", "n": 3}
    got = db.memories.get(m.id)
    assert (got.id, got.content, got.created_at) == (m.id, m.content, m.created_at)
    d = m.to_dict()
    assert d["id"] == m.id and d["metadata"] == {"topic": "health", "n": 3} and d["user_id"] == "alice"

    u = db.memories.update(m.id, content="Alice is allergic to peanuts and cashews")
    assert u.content.endswith("cashews") and u.metadata == m.metadata and u.updated_at >= m.updated_at
    u = db.memories.update(m.id, metadata={"topic": "food"})
    assert u.metadata == {"topic": "food"}

    db.memories.delete(m.id)
    with pytest.raises(omnex.NotFoundError):
        db.memories.get(m.id)
    with pytest.raises(omnex.NotFoundError):
        db.memories.delete(m.id)


def test_add_many_is_ordered_and_all_or_nothing(db, ns):
    items = ["first", {"content": "second", "user_id": "bob", "metadata": {"k": 1}}, "third"]
    added = db.memories.add_many(items, namespace=ns, user_id="alice")
    assert [m.content for m in added] == ["first", "second", "third"]
    assert [m.user_id for m in added] == ["alice", "bob", "alice"]
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.add_many(["fine", "   "], namespace=ns)
    assert e.value.field == "content"
    assert len(list(db.memories.list(namespace=ns))) == 3


def test_list_follows_cursors_by_scope(db, ns):
    db.memories.add_many([f"note {i}" for i in range(12)], namespace=ns, user_id="u1")
    db.memories.add_many([f"other {i}" for i in range(5)], namespace=ns, user_id="u2")
    u1 = list(db.memories.list(namespace=ns, user_id="u1", page_size=5))
    assert [m.content for m in u1] == [f"note {i}" for i in range(12)]
    assert len(list(db.memories.list(namespace=ns, page_size=4))) == 17
    assert len(list(db.memories.list(namespace=ns))) == 17


def test_list_by_metadata_and_embeddings_alike_in_both_modes(db, ns):
    db.memories.add_many(
        [{"content": f"item {i}", "metadata": {"parity": "even" if i % 2 == 0 else "odd"}} for i in range(6)],
        namespace=ns,
    )
    even = list(db.memories.list(namespace=ns, filter={"parity": "even"}))
    assert [m.content for m in even] == ["item 0", "item 2", "item 4"]
    assert all(m.embedding is None for m in even)
    with_vectors = list(db.memories.list(namespace=ns, filter={"parity": "odd"}, include_embedding=True))
    assert [len(m.embedding) for m in with_vectors] == [384, 384, 384]
    hit = db.memories.search("item", namespace=ns, limit=1)[0]
    assert hit.memory.embedding is None
    hit = db.memories.search("item", namespace=ns, limit=1, include_embedding=True)[0]
    assert len(hit.memory.embedding) == 384
    assert len(db.memories.get(hit.memory.id).embedding) == 384
    with pytest.raises(omnex.InvalidInputError) as e:
        list(db.memories.list(namespace=ns, filter={"parity": ["even"]}))
    assert e.value.field == "filter"


def test_search_by_text_scope_filter_and_vector(db, ns):
    db.memories.add("Alice is allergic to peanuts", namespace=ns, user_id="alice", metadata={"topic": "health"})
    db.memories.add("Alice trains for the Berlin marathon", namespace=ns, user_id="alice", metadata={"topic": "sport"})
    db.memories.add("Bob is allergic to shellfish", namespace=ns, user_id="bob", metadata={"topic": "health"})
    hits = db.memories.search("what food must alice avoid?", namespace=ns, user_id="alice", limit=2)
    assert [type(h) for h in hits] == [omnex.SearchHit, omnex.SearchHit]
    assert hits[0].memory.content == "Alice is allergic to peanuts"
    assert hits[0].score >= hits[1].score
    assert all(h.memory.user_id == "alice" for h in hits)
    health = db.memories.search("allergy", namespace=ns, filter={"topic": "health"})
    assert {h.memory.user_id for h in health} == {"alice", "bob"}
    assert db.memories.search("allergy", namespace=ns, min_score=0.99) == []
    assert hits[0].to_dict()["memory"]["content"] == "Alice is allergic to peanuts"

    own = [0.0] * 384
    own[0] = 1.0
    m = db.memories.add("a memory with its own vector", namespace=ns, embedding=own)
    top = db.memories.search(vector=own, namespace=ns, limit=1)[0]
    assert top.memory.id == m.id and abs(top.score - 1.0) < 1e-4
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.search(vector=[1.0, 0.0], namespace=ns)
    assert e.value.field == "vector"


def test_search_modes_explain_and_signals(db, ns):
    db.memories.add("The shipment left the warehouse on Monday", namespace=ns, metadata={"importance": 0})
    db.memories.add("Invoice INV-20931 was paid twice by mistake", namespace=ns, metadata={"importance": 0})
    pinned = db.memories.add("Pay the warehouse invoice on Friday", namespace=ns, metadata={"importance": 5})
    keyword = db.memories.search("INV-20931", namespace=ns, mode="keyword")
    assert [h.memory.content for h in keyword] == ["Invoice INV-20931 was paid twice by mistake"]
    assert keyword[0].explain is None
    hybrid = db.memories.search("what about INV-20931?", namespace=ns, explain=True)
    assert hybrid[0].memory.content.startswith("Invoice INV-20931")
    assert hybrid[0].explain["keyword"]["rank"] == 1
    assert "semantic" in hybrid[0].explain
    assert 0.0 < hybrid[0].score <= 1.0
    assert hybrid[0].to_dict()["explain"]["keyword"]["rank"] == 1
    semantic = db.memories.search("money sent twice", namespace=ns, mode="semantic", limit=1)
    assert semantic[0].memory.content.startswith("Invoice")
    boosted = db.memories.search("warehouse", namespace=ns, mode="keyword", boost_field="importance", explain=True)
    assert boosted[0].memory.id == pinned.id
    assert boosted[0].explain["boost"] == 6.0
    recent = db.memories.search("warehouse", namespace=ns, recency_half_life="30d", rrf_k=10, keyword_weight=2.0)
    assert {h.memory.content for h in recent[:2]} >= {pinned.content}
    assert db.memories.search("the of and", namespace=ns, mode="keyword") == []
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.search("x", namespace=ns, mode="fuzzy")
    assert e.value.field == "mode"
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.search("x", namespace=ns, recency_half_life="soon")
    assert e.value.field == "recency_half_life"

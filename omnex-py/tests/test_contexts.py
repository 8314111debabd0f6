import datetime

import pytest

import omnex


def test_put_get_replace_delete(db, ns):
    value = {"theme": "dark", "sizes": [1, 2.5], "flags": {"beta": True}, "none": None, "ü": "✓"}
    c = db.contexts.put(ns, "prefs/ui", value, tags=["ui", "prefs"])
    assert isinstance(c, omnex.Context)
    assert (c.namespace, c.key, c.version, c.tags) == (ns, "prefs/ui", 1, ["ui", "prefs"])
    assert c.value == value
    assert isinstance(c.created_at, datetime.datetime) and c.created_at.tzinfo is not None
    assert c.expires_at is None

    c2 = db.contexts.put(ns, "prefs/ui", {"theme": "light"}, if_version=1)
    assert c2.version == 2 and c2.created_at == c.created_at
    assert db.contexts.get(ns, "prefs/ui").value == {"theme": "light"}
    assert c2.to_dict()["version"] == 2

    with pytest.raises(omnex.ConflictError) as e:
        db.contexts.put(ns, "prefs/ui", 0, if_version=1)
    assert e.value.code == "conflict"
    with pytest.raises(omnex.ConflictError):
        db.contexts.put(ns, "prefs/ui", 0, if_version=0)
    assert db.contexts.put(ns, "fresh", [1], if_version=0).version == 1

    db.contexts.delete(ns, "prefs/ui", if_version=2)
    with pytest.raises(omnex.NotFoundError) as e:
        db.contexts.get(ns, "prefs/ui")
    assert e.value.code == "not_found"
    with pytest.raises(omnex.NotFoundError):
        db.contexts.delete(ns, "prefs/ui")


def test_ttl_sets_expiry(db, ns):
    c = db.contexts.put(ns, "session", {"token": "x"}, ttl_seconds=3600)
    assert c.expires_at is not None
    assert c.expires_at > c.created_at + datetime.timedelta(minutes=59)


def test_list_follows_cursors_and_filters(db, ns):
    for i in range(23):
        db.contexts.put(ns, f"k{i:02}", i, tags=["even"] if i % 2 == 0 else [])
    keys = [c.key for c in db.contexts.list(namespace=ns, page_size=5)]
    assert keys == [f"k{i:02}" for i in range(23)]
    assert len(list(db.contexts.list(namespace=ns, tag="even"))) == 12
    assert [c.key for c in db.contexts.list(namespace=ns, prefix="k1")] == [f"k1{i}" for i in range(10)]
    assert list(db.contexts.list(namespace=ns, prefix="zzz")) == []


def test_values_must_be_json(db, ns):
    with pytest.raises(TypeError):
        db.contexts.put(ns, "k", {"when": datetime.datetime.now()})
    with pytest.raises(TypeError):
        db.contexts.put(ns, "k", {1: "int keys are not JSON"})

"""Keys of two tenants on one real server, used from Python: each sees only its own
data, a read-only key cannot write, and a client on tokens keeps working."""

import json
import urllib.request

import pytest

import omnex


def make_key(server: str, **body: object) -> str:
    """Makes an API key with the server's own key (as `omnex keys create` would)."""
    req = urllib.request.Request(
        f"{server}/api/v1/keys",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer py-test-key", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as res:
        return json.load(res)["key"]


def test_tenants_do_not_see_each_other(server, ns):
    acme = omnex.Client(server, api_key=make_key(server, tenant="py-acme"))
    globex = omnex.Client(server, api_key=make_key(server, tenant="py-globex"), use_tokens=True)
    memory = acme.memories.add("Acme's vault code is 4711", namespace=ns)
    assert memory.tenant == "py-acme"
    assert acme.contexts.put(ns, "plan", {"secret": True}).tenant == "py-acme"

    with pytest.raises(omnex.NotFoundError):
        globex.memories.get(memory.id)
    with pytest.raises(omnex.NotFoundError):
        globex.memories.delete(memory.id)
    with pytest.raises(omnex.NotFoundError):
        globex.contexts.get(ns, "plan")
    assert globex.memories.search("vault code", namespace=ns) == []
    assert list(globex.memories.list(namespace=ns)) == []
    assert acme.memories.get(memory.id).content == "Acme's vault code is 4711"


def test_a_read_only_key_cannot_write(server, ns):
    reader = omnex.Client(server, api_key=make_key(server, permission="read"))
    assert list(reader.contexts.list(namespace=ns)) == []
    with pytest.raises(omnex.ForbiddenError) as e:
        reader.contexts.put(ns, "k", 1)
    assert e.value.code == "forbidden"
    assert isinstance(e.value, omnex.OmnexError)

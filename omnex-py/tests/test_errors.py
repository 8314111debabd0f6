import pytest

import omnex


def test_hierarchy():
    for cls in (omnex.NotFoundError, omnex.ConflictError, omnex.InvalidInputError,
                omnex.UnsupportedError, omnex.UnavailableError, omnex.InternalError):
        assert issubclass(cls, omnex.OmnexError)
    assert issubclass(omnex.OmnexError, Exception)


def test_invalid_input_names_the_field(db, ns):
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.add("   ", namespace=ns)
    assert (e.value.code, e.value.field) == ("invalid_input", "content")
    with pytest.raises(omnex.InvalidInputError) as e:
        db.contexts.put("bad namespace!", "k", 1)
    assert e.value.field == "namespace"
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.get("not-a-uuid")
    assert e.value.code == "invalid_input"
    with pytest.raises(omnex.InvalidInputError) as e:
        db.memories.search("x", limit=1000)
    assert e.value.field == "limit"
    with pytest.raises(omnex.OmnexError):
        list(db.contexts.list(page_size=0))


def test_unreachable_server_is_unavailable():
    client = omnex.Client("http://127.0.0.1:9")
    with pytest.raises(omnex.UnavailableError) as e:
        client.contexts.get("ns", "k")
    assert e.value.code == "unavailable"


def test_wrong_api_key(server):
    client = omnex.Client(server, api_key="wrong")
    with pytest.raises(omnex.Unauthorized) as e:
        client.contexts.get("ns", "k")
    assert isinstance(e.value, omnex.OmnexError)
    assert omnex.Unauthorized is omnex.UnauthorizedError
    assert e.value.code == "unauthorized"
    assert e.value.field is None


def test_missing_model_names_the_command(tmp_path, monkeypatch):
    # An empty model cache and no Hugging Face cache: the model is nowhere.
    monkeypatch.setenv("OMNEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME", "OMNEX_MODEL_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(omnex.NotFoundError) as e:
        omnex.Omnex(str(tmp_path / "data"))
    assert "omnex model install" in str(e.value)


def test_bad_url():
    with pytest.raises(omnex.InvalidInputError):
        omnex.Client("127.0.0.1:8080")

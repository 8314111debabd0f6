"""End-to-end tests of `omnex mcp` (stdio) and `omnex serve` (/mcp, streamable HTTP)
with the official MCP Python SDK as the client.

Run by scripts/test with OMNEX_BIN pointing at the built `omnex` binary.
"""

import asyncio
import json
import os
import re
import subprocess
import tempfile
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import jsonschema
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

OMNEX = os.environ.get("OMNEX_BIN", str(Path(__file__).resolve().parents[3] / "target/debug/omnex"))
TOOLS = {
    "memory_add", "memory_search", "memory_get", "memory_update", "memory_delete", "memory_list",
    "memory_history", "context_set", "context_get", "context_list", "context_delete",
}
READ_ONLY = {"memory_search", "memory_get", "memory_list", "memory_history", "context_get", "context_list"}


@asynccontextmanager
async def stdio_session(data_dir, *args):
    params = StdioServerParameters(
        command=OMNEX,
        args=["mcp", "--data-dir", str(data_dir), *args],
        env={**os.environ, "OMNEX_LOG": "warn"},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def http_server(data_dir, *args):
    proc = subprocess.Popen(
        [OMNEX, "serve", "--data-dir", str(data_dir), "--addr", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMNEX_LOG": "warn"},
        text=True,
    )
    try:
        first = proc.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", first)
        assert match, f"unexpected first line {first!r}"
        yield match.group(0)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, "omnex serve exits 0 on SIGTERM"


@asynccontextmanager
async def http_session(base, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with create_mcp_http_client(headers=headers) as client:
        async with streamable_http_client(f"{base}/mcp", http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def ok(session, tool, args):
    result = await session.call_tool(tool, args)
    assert not result.is_error, f"{tool} {args}: {result.content}"
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def fails(session, tool, args):
    result = await session.call_tool(tool, args)
    assert result.is_error, f"{tool} {args} should fail"
    return result.structured_content or {}


def test_stdio_tools_schemas_and_every_tool():
    async def main():
        with tempfile.TemporaryDirectory() as data:
            async with stdio_session(data) as s:
                assert s.initialize_result.server_info.name == "omnex"
                tools = {t.name: t for t in (await s.list_tools()).tools}
                assert set(tools) == TOOLS
                for name, tool in tools.items():
                    jsonschema.Draft202012Validator.check_schema(tool.input_schema)
                    jsonschema.Draft202012Validator.check_schema(tool.output_schema)
                    assert tool.annotations.read_only_hint == (name in READ_ONLY), name
                    assert tool.description and len(tool.description) > 20
                assert tools["memory_delete"].annotations.destructive_hint is True

                m = await ok(s, "memory_add", {"content": "Alice is allergic to peanuts", "user_id": "alice"})
                await ok(s, "memory_add", {"content": "Bob collects vintage synthesizers", "user_id": "bob"})
                hits = (await ok(s, "memory_search", {"query": "what must alice avoid eating", "user_id": "alice"}))["hits"]
                assert hits[0]["memory"]["id"] == m["id"]
                assert all(h["memory"]["user_id"] == "alice" for h in hits)
                kw = (await ok(s, "memory_search", {"query": "synthesizers", "mode": "keyword", "explain": True}))["hits"]
                assert [h["memory"]["user_id"] for h in kw] == ["bob"]
                assert kw[0]["explain"]["keyword"]["rank"] == 1 and "semantic" not in kw[0]["explain"]
                bad = await fails(s, "memory_search", {"query": "x", "recency_half_life": "soon"})
                assert (bad["code"], bad["field"]) == ("invalid_input", "recency_half_life")
                assert (await ok(s, "memory_get", {"id": m["id"]}))["content"] == "Alice is allergic to peanuts"
                upd = await ok(s, "memory_update", {"id": m["id"], "metadata": {"source": "doctor"}})
                assert upd["metadata"] == {"source": "doctor"}
                page = await ok(s, "memory_list", {"limit": 1})
                assert len(page["items"]) == 1 and page["next_cursor"]
                assert (await ok(s, "memory_delete", {"id": m["id"]}))["deleted"] is True
                assert (await fails(s, "memory_get", {"id": m["id"]}))["code"] == "not_found"
                history = (await ok(s, "memory_history", {"id": m["id"]}))["changes"]
                assert [c["kind"] for c in history] == ["memory.add", "memory.update", "memory.delete"]
                assert history[1]["data"]["metadata"] == {"source": "doctor"}
                assert (await fails(s, "memory_update", {"id": m["id"], "content": "x"}))["code"] == "not_found"
                assert (await fails(s, "memory_delete", {"id": m["id"]}))["code"] == "not_found"
                assert (await fails(s, "memory_add", {"content": ""}))["field"] == "content"
                assert (await fails(s, "memory_search", {"query": "x", "limit": 0}))["field"] == "limit"
                assert (await fails(s, "memory_list", {"cursor": "bogus"}))["field"] == "cursor"
                await fails(s, "memory_add", {"content": 7})  # wrong type: a readable tool error

                c = await ok(s, "context_set", {"key": "plan", "value": {"steps": [1, 2]}, "tags": ["work"]})
                assert c["version"] == 1
                assert (await fails(s, "context_set", {"key": "plan", "value": 0, "if_version": 0}))["code"] == "conflict"
                assert (await ok(s, "context_get", {"key": "plan"}))["value"] == {"steps": [1, 2]}
                assert [i["key"] for i in (await ok(s, "context_list", {"tag": "work"}))["items"]] == ["plan"]
                assert (await fails(s, "context_list", {"limit": 5000}))["field"] == "limit"
                assert (await ok(s, "context_delete", {"key": "plan"}))["deleted"] is True
                assert (await fails(s, "context_get", {"key": "plan"}))["code"] == "not_found"
                assert (await fails(s, "context_delete", {"key": "plan"}))["code"] == "not_found"

    asyncio.run(main())


def test_stdio_resources_template_pagination_and_reads():
    async def main():
        with tempfile.TemporaryDirectory() as data:
            async with stdio_session(data, "--namespace", "notes") as s:
                for i in range(120):
                    await ok(s, "context_set", {"key": f"day/{i:03}", "value": {"n": i}})
                templates = (await s.list_resource_templates()).resource_templates
                assert [t.uri_template for t in templates] == ["omnex://contexts/{namespace}/{key}"]
                uris, cursor, pages = [], None, 0
                while True:
                    page = await s.list_resources(params=types.PaginatedRequestParams(cursor=cursor))
                    uris += [str(r.uri) for r in page.resources]
                    pages += 1
                    cursor = page.next_cursor
                    if not cursor:
                        break
                assert pages == 2 and len(uris) == 120 and len(set(uris)) == 120
                read = await s.read_resource("omnex://contexts/notes/day/042")
                assert json.loads(read.contents[0].text) == {"n": 42}
                assert read.contents[0].mime_type == "application/json"

    asyncio.run(main())


def test_memory_stored_over_stdio_is_found_over_http_by_another_process():
    async def main():
        with tempfile.TemporaryDirectory() as data:
            async with http_server(data) as base:
                async with stdio_session(data, "--user-id", "erin") as stdio:
                    stored = await ok(stdio, "memory_add", {"content": "Erin's flight to Lisbon leaves on Friday at 7am"})
                    assert stored["user_id"] == "erin"
                async with http_session(base) as http:
                    tools = {t.name for t in (await http.list_tools()).tools}
                    assert tools == TOOLS
                    hits = (await ok(http, "memory_search", {"query": "when is the trip to Portugal?", "user_id": "erin"}))["hits"]
                    assert hits and hits[0]["memory"]["id"] == stored["id"]
                    assert (await fails(http, "memory_get", {"id": "nope"}))["code"] == "invalid_input"
                    ctx = await ok(http, "context_set", {"key": "trip", "value": {"city": "Lisbon"}})
                    read = await http.read_resource(f"omnex://contexts/{ctx['namespace']}/trip")
                    assert json.loads(read.contents[0].text) == {"city": "Lisbon"}

    asyncio.run(main())


def make_key(base, boot, **body):
    req = urllib.request.Request(
        f"{base}/api/v1/keys",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {boot}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as res:
        return json.load(res)["key"]


def test_http_tools_run_for_the_tenant_and_permission_of_their_key():
    async def main():
        with tempfile.TemporaryDirectory() as data:
            async with http_server(data, "--api-key", "mcp-boot") as base:
                acme = make_key(base, "mcp-boot", tenant="acme")
                globex = make_key(base, "mcp-boot", tenant="globex")
                reader = make_key(base, "mcp-boot", tenant="acme", permission="read")
                async with http_session(base, acme) as a:
                    stored = await ok(a, "memory_add", {"content": "Acme ships the rocket on Monday"})
                    await ok(a, "context_set", {"key": "plan", "value": {"launch": "Monday"}})
                async with http_session(base, globex) as g:
                    assert (await fails(g, "memory_get", {"id": stored["id"]}))["code"] == "not_found"
                    assert (await fails(g, "memory_delete", {"id": stored["id"]}))["code"] == "not_found"
                    assert (await ok(g, "memory_search", {"query": "when does the rocket ship?"}))["hits"] == []
                    assert (await fails(g, "context_get", {"key": "plan"}))["code"] == "not_found"
                async with http_session(base, reader) as r:
                    hits = (await ok(r, "memory_search", {"query": "when does the rocket ship?"}))["hits"]
                    assert hits and hits[0]["memory"]["id"] == stored["id"]
                    assert (await fails(r, "memory_add", {"content": "x"}))["code"] == "forbidden"

    asyncio.run(main())

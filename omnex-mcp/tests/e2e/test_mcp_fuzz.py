"""Fuzzing of the MCP tools through the official MCP Python SDK.

For every tool `omnex mcp` lists, Hypothesis generates arguments from the tool's own
input schema (hypothesis-jsonschema) and, separately, arbitrary JSON objects. Every
call must end in a result that matches the tool's output schema or in a tool error
with a stable code other than `internal`; the server must never crash, hang or log a
panic. `MCP_FUZZ_EXAMPLES` sets the examples per tool and kind (CI: 40).
"""

import asyncio
import os
import sys
import tempfile
import threading
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError as McpError

OMNEX = os.environ.get("OMNEX_BIN", str(Path(__file__).resolve().parents[3] / "target/debug/omnex"))
EXAMPLES = int(os.environ.get("MCP_FUZZ_EXAMPLES", "40"))
CODES = {"invalid_input", "not_found", "conflict", "unauthorized", "forbidden", "unsupported", "unavailable"}
# JSON-RPC "invalid params": the SDK or the server refusing arguments before the tool runs.
INVALID_PARAMS = -32602
# Outcomes of every call, by kind of input, reported when the module ends.
TALLY = {}


class Server:
    """One `omnex mcp` process and an SDK session on a loop of its own thread, so
    that Hypothesis (synchronous) can call tools one example at a time."""

    def __init__(self):
        self.data = tempfile.TemporaryDirectory()
        self.log = tempfile.TemporaryFile(mode="w+")
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self._open())

    def run(self, coro, timeout=60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _open(self):
        self.stop = asyncio.Event()
        opened = asyncio.get_running_loop().create_future()

        async def hold():
            params = StdioServerParameters(
                command=OMNEX,
                args=["mcp", "--data-dir", self.data.name],
                env={**os.environ, "OMNEX_LOG": "warn"},
            )
            try:
                async with stdio_client(params, errlog=self.log) as (read, write):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        opened.set_result(session)
                        await self.stop.wait()
            except BaseException as e:  # surfaced to the test that waits on `opened`
                if not opened.done():
                    opened.set_exception(e)
                raise

        self.task = asyncio.get_running_loop().create_task(hold())
        self.session = await opened

    def call(self, tool, args):
        return self.run(self.session.call_tool(tool, args))

    def tools(self):
        return self.run(self.session.list_tools()).tools

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        try:
            self.run(asyncio.wait_for(asyncio.shield(self.task), 30))
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.log.seek(0)
        log = self.log.read()
        self.data.cleanup()
        return log


@pytest.fixture(scope="module")
def server():
    s = Server()
    # Something to find, update and delete: ids the generated calls may hit.
    s.call("memory_add", {"content": "Alice is allergic to peanuts", "user_id": "alice"})
    s.call("context_set", {"key": "plan", "value": {"steps": [1, 2]}})
    yield s
    log = s.close()
    assert "panicked" not in log, log
    print(f"\nMCP fuzzing: {TALLY}", file=sys.__stderr__)


def check(tool, args, out_schema, result_or_error):
    """A result valid for the tool's output schema, or a tool error with a code."""
    if isinstance(result_or_error, McpError):
        assert result_or_error.error.code == INVALID_PARAMS, f"{tool} {args!r}: {result_or_error.error}"
        return "refused"
    result = result_or_error
    if result.is_error:
        body = result.structured_content
        if body is None:
            # Arguments of the wrong shape are refused by the SDK layer before the
            # tool runs, in words ("failed to deserialize parameters: missing field
            # `key`"), not with a code.
            text = result.content[0].text
            assert "parameters" in text and "internal" not in text, f"{tool} {args!r}: {text}"
            return "refused"
        assert body.get("code") in CODES, f"{tool} {args!r}: {body}"
        assert body.get("message"), f"{tool} {args!r}: an error without words: {body}"
        return "error"
    if out_schema:
        jsonschema.validate(result.structured_content, out_schema)
    return "ok"


def call(server, tool, args):
    try:
        return server.call(tool, args)
    except McpError as e:
        return e


def tool_names():
    s = Server()
    try:
        return sorted(t.name for t in s.tools())
    finally:
        s.close()


TOOL_NAMES = tool_names()


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_arguments_from_the_schema(server, tool):
    spec = next(t for t in server.tools() if t.name == tool)
    seen = {"ok": 0, "error": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(from_schema(spec.input_schema))
    def run(args):
        outcome = check(tool, args, spec.output_schema, call(server, tool, args))
        seen[outcome] += 1
        TALLY[("schema", outcome)] = TALLY.get(("schema", outcome), 0) + 1

    run()
    assert sum(seen.values()) > 0
    # The server still answers after everything it was sent.
    assert {t.name for t in server.tools()} == set(TOOL_NAMES)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_arbitrary_arguments(server, tool):
    spec = next(t for t in server.tools() if t.name == tool)
    names = sorted((spec.input_schema.get("properties") or {}).keys())
    # The tool's own argument names with values of any type, and unknown names.
    keys = st.sampled_from(names) | st.text(max_size=10) if names else st.text(max_size=10)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.dictionaries(keys, JSON, max_size=6))
    def run(args):
        outcome = check(tool, args, spec.output_schema, call(server, tool, args))
        TALLY[("arbitrary", outcome)] = TALLY.get(("arbitrary", outcome), 0) + 1

    run()
    assert {t.name for t in server.tools()} == set(TOOL_NAMES)

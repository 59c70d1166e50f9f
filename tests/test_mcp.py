"""`rag mcp`, driven by the official MCP SDK's own clients: over stdio (a subprocess on the real seed
index), over streamable HTTP on 127.0.0.1 with the token rules, and in-process for the tool list."""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import pytest
from conftest import ROOT, SEEDS
from servers import free_port, stop, wait_port

FLED = "003_8f2f016433a13dad:1"            # the military attaché who "fled the country"
READ_TOOLS = {"search", "ask", "cite", "list_documents"}
CHANGE_TOOLS = {"add_document", "remove_document"}


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return env | extra


def _text(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def _check_reads(s) -> None:
    """The read tools through one connected session: results, then bad arguments as tool errors."""
    ans = await s.call_tool("ask", {"question": "Who fled Japan?"})
    assert not ans.is_error, _text(ans)
    data = ans.structured_content
    assert data["supported"] and FLED in [c for sent in data["sentences"] for c in sent["citations"]]
    assert FLED in [p["id"] for p in data["passages"]]
    text = _text(ans)
    assert "fled the country" in text and "[1]" in text and FLED in text
    assert "Monitor, Vol. 6, Issue 223, ¶1" in text

    found = await s.call_tool("search", {"question": "Which Russian warship visited Yokosuka?", "k": 3,
                                         "mode": "keyword", "authors": ["Snyder"]})
    assert not found.is_error and len(found.structured_content["passages"]) == 3
    assert "Panteleyev" in _text(found)

    cited = await s.call_tool("cite", {"ref": FLED})
    assert not cited.is_error and cited.structured_content["passages"][0]["id"] == FLED
    assert "fled the country" in _text(cited) and "Monitor, Vol. 6, Issue 223, ¶1" in _text(cited)

    listed = await s.call_tool("list_documents", {})
    assert not listed.is_error and len(listed.structured_content["documents"]) == 5

    bad = {"empty question": ("ask", {"question": "  "}, "empty question"),
           "unknown mode": ("ask", {"question": "Who fled Japan?", "mode": "nope"}, "'hybrid', 'dense' or 'keyword'"),
           "k out of range": ("search", {"question": "Japan", "k": 0}, "greater than or equal to 1"),
           "filter matching nothing": ("ask", {"question": "Japan", "documents": ["nothere"]}, "choose from"),
           "unknown citation": ("cite", {"ref": "Pravda 9/999"}, "try a label such as")}
    for case, (tool, args, says) in bad.items():
        result = await s.call_tool(tool, args)
        assert result.is_error, case
        assert says in _text(result) and "Traceback" not in _text(result), (case, _text(result))
    again = await s.call_tool("ask", {"question": "Who fled Japan?"})     # still serving after the errors
    assert not again.is_error and FLED in _text(again)


def test_stdio_initialize_tools_and_errors(real_index, tmp_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT), env=_env(),
                                   args=["-m", "rag", "mcp", "--docs", str(SEEDS), "--index", str(real_index)])
    noise: list[Exception] = []        # anything on stdout that is not a protocol message lands here

    async def on_message(message) -> None:
        if isinstance(message, Exception):
            noise.append(message)

    async def session(errlog) -> None:
        with anyio.fail_after(120):
            async with (stdio_client(params, errlog=errlog) as (read, write),
                        ClientSession(read, write, message_handler=on_message) as s):
                init = await s.initialize()
                assert init.server_info.name == "rag"
                tools = {t.name: t for t in (await s.list_tools()).tools}
                assert set(tools) == READ_TOOLS                 # no changing tools without the flag
                schema = tools["ask"].input_schema["properties"]
                assert schema["mode"]["enum"] == ["hybrid", "dense", "keyword"]
                assert (schema["k"]["minimum"], schema["k"]["maximum"]) == (1, 50)
                assert schema["documents"]["type"] == "array"
                assert tools["search"].annotations.read_only_hint
                await _check_reads(s)

    with open(tmp_path / "stderr.txt", "w") as errlog:
        anyio.run(session, errlog)
    assert noise == []
    assert "MCP tools: search, ask, cite, list_documents" in (tmp_path / "stderr.txt").read_text()


@contextmanager
def _http_server(docs: Path, index: Path, log: Path, *flags: str, token: str = ""):
    port = free_port()
    cmd = [sys.executable, "-m", "rag", "mcp", "--http", "--port", str(port), "--docs", str(docs),
           "--index", str(index), *flags]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(RAG_API_TOKEN=token), stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_port(port, proc, 60, str(log))
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop(proc)


def _private_copy(real_index: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Documents and index the test may change; the ONNX export (read only) is hard-linked."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(SEEDS, docs)
    shutil.copytree(real_index, index, ignore=shutil.ignore_patterns("onnx"))
    if (real_index / "onnx").exists():
        shutil.copytree(real_index / "onnx", index / "onnx", copy_function=os.link)
    return docs, index


def test_streamable_http_reads_and_token_rules(real_index, tmp_path):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    docs, index = _private_copy(real_index, tmp_path)
    otter = {"name": "otters.md", "encoding": "base64",
             "content": base64.b64encode(b"# Otters\n\nThe river otter swam home to the Ussuri delta.\n").decode()}

    @asynccontextmanager
    async def as_client(url: str, token: str):
        async with (create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
                    Client(streamable_http_client(url, http_client=http), mode="legacy") as c):
            yield c

    async def session(url: str) -> None:
        with anyio.fail_after(120):
            await steps(url)

    async def steps(url: str) -> None:
        async with Client(url) as c:                               # no token: reads are open on 127.0.0.1
            assert {t.name for t in (await c.list_tools()).tools} == READ_TOOLS | CHANGE_TOOLS
            await _check_reads(c)
            refused = await c.call_tool("add_document", otter)
            assert refused.is_error and "Authorization: Bearer" in _text(refused)
        async with as_client(url, "wrong") as c:
            refused = await c.call_tool("remove_document", {"names": ["000_6114352f984fc0ab"]})
            assert refused.is_error and "wrong token" in _text(refused)
        async with as_client(url, "s3cret") as c:
            added = await c.call_tool("add_document", otter)
            assert not added.is_error, _text(added)
            assert added.structured_content["files"][0]["status"] == "added"
            ans = await c.call_tool("ask", {"question": "Where did the river otter swim?"})
            assert "Ussuri delta" in _text(ans) and ans.structured_content["supported"]
            stored = added.structured_content["files"][0]["file"]
            gone = await c.call_tool("remove_document", {"names": [stored]})
            assert not gone.is_error and gone.structured_content["index"]["documents"] == 5

    with _http_server(docs, index, tmp_path / "server.log", "--allow-changes", token="s3cret") as url:
        anyio.run(session, url)
    kept = sorted(p.name for p in docs.iterdir() if not p.name.startswith("."))
    assert kept == sorted(p.name for p in SEEDS.iterdir())          # the otter was added, then removed


def test_changing_tools_need_the_flag_and_over_http_a_token(real_engine):
    from dataclasses import replace

    from mcp import Client

    from rag.serve import mcp as server

    async def names(srv) -> set[str]:
        async with Client(srv) as c:
            return {t.name for t in (await c.list_tools()).tools}

    def tools(engine, **how) -> set[str]:
        return anyio.run(names, server.build(engine, **how))

    assert real_engine.settings.api_token == ""
    assert tools(real_engine) == READ_TOOLS
    assert tools(real_engine, allow_changes=True, http=True) == READ_TOOLS      # no token: off entirely
    assert tools(real_engine, allow_changes=True) == READ_TOOLS | CHANGE_TOOLS   # stdio: the user's own process
    with_token = type(real_engine)(replace(real_engine.settings, api_token="t"))
    assert tools(with_token, allow_changes=True, http=True) == READ_TOOLS | CHANGE_TOOLS


def test_a_non_local_host_needs_the_token_for_everything():
    from rag.schema import BadInput
    from rag.serve import mcp as server

    with pytest.raises(BadInput, match="RAG_API_TOKEN"):
        server.check_http("0.0.0.0", "")
    server.check_http("127.0.0.1", "")
    run = subprocess.run([sys.executable, "-m", "rag", "mcp", "--http", "--host", "0.0.0.0"], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2 and "RAG_API_TOKEN" in run.stderr and run.stdout == ""

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def status(host: str, header: bytes | None) -> int:
        sent = []

        async def send(message):
            sent.append(message)
        headers = [(b"authorization", header)] if header else []
        await server.token_gate(app, "t0ken", host)({"type": "http", "headers": headers}, None, send)
        return sent[0]["status"]

    assert anyio.run(status, "0.0.0.0", None) == 401
    assert anyio.run(status, "0.0.0.0", b"Bearer nope") == 403
    assert anyio.run(status, "0.0.0.0", b"Bearer t0ken") == 200
    assert anyio.run(status, "127.0.0.1", None) == 200


def test_nothing_reaches_stdout_while_the_engine_loads(capfd):
    from rag.cli.mcp import stdout_to_stderr

    with stdout_to_stderr():
        print("a library's print")
        os.write(1, b"a C library's write\n")
    print("the protocol")
    out, err = capfd.readouterr()
    assert out == "the protocol\n" and "a library's print" in err and "a C library's write" in err

"""`rag serve`: a real uvicorn server (tests/http_server.py) over a copy of the session's real index,
driven over HTTP with httpx. Every endpoint; its JSON equals the CLI's --json and validates against
the served OpenAPI document; the token rules; the size limits (413 naming the limit); hostile input
(the hostile-question strategy of test_hostile_input, over HTTP); 404 for an unknown citation; 503
while the index is built and when it cannot be; never a traceback."""
from __future__ import annotations

import json
import shutil
import time
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from http_server import copy_collection, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_input import question as hostile_question

from rag.cli import main

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FILE_LIMIT = 200_000
QUESTION = "Who fled Japan?"


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_index):
    """The API over a private copy of the seeds and the real index, with a token and a small file limit."""
    where = tmp_path_factory.mktemp("serve")
    docs, index = copy_collection(real_index, where)
    env = {"RAG_API_TOKEN": TOKEN, "RAG_MAX_FILE_BYTES": str(FILE_LIMIT)}
    with serve(docs, index, where / "server.log", env) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        yield client, docs, index


@pytest.fixture(scope="module")
def openapi(server):
    r = server[0].get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def valid(doc: dict, name: str, body) -> None:
    """`body` validates against the served OpenAPI document's schema `name`."""
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def cli_json(capsys, docs, index, *args) -> object:
    capsys.readouterr()
    main([*args, "--json", "--docs", str(docs), "--index", str(index)])
    return json.loads(capsys.readouterr().out)


def test_read_endpoints_equal_the_cli_json_and_the_served_schema(server, openapi, capsys):
    client, docs, index = server
    ask = client.post("/v1/ask", json={"question": QUESTION})
    assert ask.status_code == 200 and ask.headers["content-type"] == "application/json"
    assert ask.json()["supported"] and "fled" in ask.json()["answer"]
    assert ask.json() == cli_json(capsys, docs, index, "ask", QUESTION)       # Answer.to_json has no timing
    search = client.post("/v1/search", json={"question": "Kuril Islands", "k": 3, "mode": "keyword"})
    assert search.json() == cli_json(capsys, docs, index, "search", "Kuril Islands", "-k", "3", "--mode", "keyword")
    listed = client.get("/v1/documents")
    assert listed.json() == cli_json(capsys, docs, index, "list") and len(listed.json()) == 5
    ref = ask.json()["passages"][0]["citation"]
    cite = client.get("/v1/cite", params={"ref": ref})
    assert cite.status_code == 200 and cite.json() == cli_json(capsys, docs, index, "cite", ref)
    status, health = client.get("/v1/status"), client.get("/v1/health")
    assert status.json()["documents"] == 5 and status.json()["backend"] == "onnx"
    assert health.json() == {"status": "ready", "generation": status.json()["generation"], "message": ""}
    for name, r in [("Answer", ask), ("Search", search), ("Documents", listed), ("Lookup", cite),
                    ("Status", status), ("Health", health)]:
        valid(openapi, name, r.json())


def test_openapi_documents_every_endpoint(server, openapi):
    paths = {p: set(ops) for p, ops in openapi["paths"].items()}
    assert paths == {"/v1/ask": {"post"}, "/v1/search": {"post"}, "/v1/cite": {"get"},
                     "/v1/documents": {"get", "post"}, "/v1/documents/{name}": {"delete"},
                     "/v1/rebuild": {"post"}, "/v1/status": {"get"}, "/v1/health": {"get"}}
    assert openapi["paths"]["/v1/ask"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Answer"}
    assert "422" not in json.dumps(openapi["paths"])
    assert server[0].get("/docs").status_code == 200


def test_filters_and_bad_input_are_400_naming_the_fix(server, openapi):
    client = server[0]
    doc = client.get("/v1/documents").json()[1]["doc_id"]
    r = client.post("/v1/ask", json={"question": "Japan", "filter": {"documents": [doc]}})
    assert r.status_code == 200 and {p["doc"] for p in r.json()["passages"]} == {doc}
    for body, words in [({"question": "   "}, "empty question"), ({"question": "x", "mode": "fuzzy"}, "mode"),
                        ({"question": "x", "k": 0}, "k"), ({"questoin": "x"}, "questoin"),
                        ({"question": "x", "filter": {"authors": ["Nobody At All"]}}, "no document matches"),
                        ({"question": 5}, "question")]:
        r = client.post("/v1/ask", json=body)
        assert r.status_code == 400 and words in r.json()["error"], (body, r.text)
        valid(openapi, "Error", r.json())
    r = client.post("/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    r = client.post("/v1/ask", content=b'{"question": "x"}')     # no Content-Type: not read as JSON
    assert r.status_code == 400 and "Content-Type: application/json" in r.json()["error"]
    assert client.get("/v1/nothing").status_code == 404 and "error" in client.get("/v1/nothing").json()


def test_unknown_citation_is_404_with_suggestions(server, openapi):
    r = server[0].get("/v1/cite", params={"ref": "Monitor, Vol. 5, Issue 107, ¶99"})
    assert r.status_code == 404 and r.json()["error"] and r.json()["passages"] == []
    assert r.json()["suggestions"], "the closest passages are suggested"
    valid(openapi, "Lookup", {k: v for k, v in r.json().items() if k != "error"})
    assert server[0].get("/v1/cite", params={"ref": " "}).status_code == 400


def test_changes_need_the_token(server):
    client = server[0]
    for headers, status in [({}, 401), ({"Authorization": "Bearer nope"}, 403), ({"Authorization": TOKEN}, 401)]:
        for r in (client.post("/v1/rebuild", headers=headers), client.delete("/v1/documents/x", headers=headers),
                  client.post("/v1/documents", headers=headers, files={"files": ("a.txt", b"some text")})):
            assert r.status_code == status and "RAG_API_TOKEN" in r.json()["error"], r.text
    assert len(client.get("/v1/documents").json()) == 5, "nothing changed"


def test_upload_ask_remove_and_rebuild_with_the_token(server, openapi):
    client = server[0]
    text = b"Title: Kelp Report\nAuthor: Ann Reyes\n\nThe harbour commission signed the zanzibarquux kelp accord.\n"
    r = client.post("/v1/documents", headers=AUTH, files=[("files", ("../../kelp.txt", text)),
                                                          ("files", ("tool.exe", b"MZ\x00\x01"))])
    assert r.status_code == 200, r.text
    valid(openapi, "Change", r.json())
    added, refused = r.json()["files"]
    assert added["status"] == "added" and added["file"].startswith("upload-") and "/" not in added["file"]
    assert refused["status"] == "refused" and "unsupported" in refused["detail"]
    ask = client.post("/v1/ask", json={"question": "What did the harbour commission sign?"}).json()
    assert ask["passages"][0]["text"].endswith("zanzibarquux kelp accord.")
    assert ask["generation"] == r.json()["index"]["generation"]
    only_refused = client.post("/v1/documents", headers=AUTH, files={"files": ("x.exe", b"MZ")})
    assert only_refused.status_code == 400 and "unsupported" in only_refused.json()["error"]
    gone = client.delete(f"/v1/documents/{added['file']}", headers=AUTH)
    assert gone.status_code == 200 and gone.json()["removed"] == [added["file"]]
    valid(openapi, "Change", gone.json())
    assert client.delete("/v1/documents/no-such-doc", headers=AUTH).status_code == 400
    rebuilt = client.post("/v1/rebuild", headers=AUTH)
    assert rebuilt.status_code == 200 and rebuilt.json()["documents"] == 5
    valid(openapi, "BuildReport", rebuilt.json())


def test_size_limits_are_413_naming_the_limit(server):
    client = server[0]
    r = client.post("/v1/ask", json={"question": "x" * 70_000})
    assert r.status_code == 413 and "RAG_MAX_REQUEST_BYTES" in r.json()["error"]
    chunks = (b'{"question": "' + b"y" * 10_000 if i == 0 else b"y" * 10_000 for i in range(8))
    r = client.post("/v1/ask", content=chunks, headers={"content-type": "application/json"})   # no Content-Length
    assert r.status_code == 413 and "RAG_MAX_REQUEST_BYTES" in r.json()["error"]
    r = client.post("/v1/documents", headers=AUTH, files={"files": ("big.txt", b"word " * (FILE_LIMIT // 5 + 1))})
    assert r.status_code == 413 and "RAG_MAX_FILE_BYTES" in r.json()["error"] and "big.txt" in r.json()["error"]
    r = client.post("/v1/documents", headers=AUTH, files=[("files", (f"{i}.txt", b"a" * FILE_LIMIT)) for i in range(11)])
    assert r.status_code == 413 and "RAG_MAX_FILE_BYTES" in r.json()["error"]
    assert len(client.get("/v1/documents").json()) == 5


body_value = st.one_of(st.none(), st.integers(-5, 300), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3),
                       st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(q=hostile_question, k=st.one_of(st.none(), st.integers(-2, 300)),
       mode=st.sampled_from([None, "hybrid", "dense", "keyword", "x"]), path=st.sampled_from(["ask", "search"]),
       extra=st.dictionaries(st.sampled_from(["filter", "reader", "junk"]), body_value, max_size=2))
def test_hostile_requests_get_json_never_a_traceback(server, openapi, q, k, mode, path, extra):
    body = {"question": q, **({"k": k} if k is not None else {}), **({"mode": mode} if mode else {}), **extra}
    raw = json.dumps(body, ensure_ascii=True)     # lone surrogates travel as \ud800 escapes
    r = server[0].post(f"/v1/{path}", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 413), r.text[:300]
    assert "Traceback" not in r.text and r.headers["content-type"] == "application/json"
    if r.status_code == 200:
        valid(openapi, "Answer" if path == "ask" else "Search", r.json())
    else:
        assert r.json()["error"]


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(ref=hostile_question.filter(lambda s: len(s) < 3000))
def test_hostile_references_get_json(server, ref):
    raw = quote(ref.encode("utf-8", "surrogatepass"), safe="")     # lone surrogates as invalid UTF-8
    r = server[0].get(f"/v1/cite?ref={raw}")
    assert r.status_code in (200, 400, 404) and r.json()["error" if r.status_code != 200 else "ref"] is not None


def test_no_token_disables_changes_and_503_while_building(tmp_path, real_index):
    """No RAG_API_TOKEN: changes are 403, not open. An empty index folder is built at start-up,
    and meanwhile questions get 503 (health says "building") instead of waiting."""
    docs, index = copy_collection(real_index, tmp_path)
    for gen in index.glob("gen-*"):          # keep the ONNX export; drop the index itself
        shutil.rmtree(gen)
    (index / "CURRENT").unlink()
    with serve(docs, index, tmp_path / "server.log", ready=(200, 503)) as srv, httpx.Client(base_url=srv.url) as c:
        first = c.post("/v1/ask", json={"question": QUESTION})
        if first.status_code == 503:
            assert "being built" in first.json()["error"] and first.headers["retry-after"]
        deadline = time.monotonic() + 60
        while c.get("/v1/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.post("/v1/ask", json={"question": QUESTION}).json()["supported"]
        for r in (c.post("/v1/rebuild", headers=AUTH), c.delete("/v1/documents/x", headers=AUTH),
                  c.post("/v1/documents", headers=AUTH, files={"files": ("a.txt", b"text")})):
            assert r.status_code == 403 and "disabled" in r.json()["error"]


def test_no_usable_index_is_503_naming_the_cause(tmp_path):
    docs = tmp_path / "empty"
    docs.mkdir()
    with serve(docs, tmp_path / "index", tmp_path / "server.log", ready=(503,)) as srv, \
            httpx.Client(base_url=srv.url) as c:
        health = c.get("/v1/health").json()
        assert health["status"] == "unavailable" and "no documents" in health["message"]
        for r in (c.post("/v1/ask", json={"question": QUESTION}), c.get("/v1/status"), c.get("/v1/documents"),
                  c.get("/v1/cite", params={"ref": "x"})):
            assert r.status_code == 503 and "no documents" in r.json()["error"], r.text

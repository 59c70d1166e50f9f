"""The HTTP API's JSON contract: the response bodies and their JSON Schemas, both from the records.

A body is a record's own to_json() (the CLI's --json prints the same), and its schema is generated
from to_json() itself: each record is built from its dataclass fields three ways (every field
filled; all empty; lists of one empty record) and the schemas of the outputs are merged. A key that to_json() adds or
drops changes the served schema with it, so code and documentation cannot drift. Pure; no web framework.
"""
from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

from ..schema import Answer, BuildReport, Change, Hit, Listed, Lookup, Status

Json = dict[str, Any]
ERROR: Json = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"],
               "description": "what went wrong and what to do; 404 for a citation adds the lookup's fields"}
HEALTH_STATES = ("ready", "building", "unavailable")


# -- the bodies (the CLI prints these same shapes) ------------------------------------------------
def search_json(question: str, hits: Sequence[Hit]) -> Json:
    """`rag search --json`: the question as asked and the ranked passages."""
    return {"question": question, "passages": [h.to_json() for h in hits]}


def documents_json(listed: Sequence) -> list:
    """`rag list --json`: each document's metadata and passage count."""
    return [x.to_json() for x in listed]


def health_json(state: str, message: str = "", generation: str = "") -> Json:
    return {"status": state, "generation": generation, "message": message}


def dumps(body) -> bytes:
    """UTF-8 JSON. A lone surrogate (echoed from a hostile question) is written as its \\u escape."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True, allow_nan=False).encode("ascii")


# -- schemas generated from to_json() -----------------------------------------------------------------
def _sample(tp, mode: str):
    """A value of type `tp`. Modes: "full" (every value set), "empty" (empty containers, None, ""),
    "hollow" (one-element containers of empty records, an optional record empty: the None and ""
    cases of nested records)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_dataclass(tp):
        return record(tp, mode)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        if mode == "full" or (mode == "hollow" and is_dataclass(inner)):
            return _sample(inner, "full" if mode == "full" else "empty")
        return None
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"full": (_sample(args[0], "full"),), "hollow": (_sample(args[0], "empty"),)}.get(mode, ())
        return tuple(_sample(a, mode) for a in args)
    full = mode == "full"
    return {str: "x" if full else "", bool: full, int: int(full), float: 0.5 if full else 0.0}.get(tp, {})


def record(cls, mode: str = "full"):
    """An instance of a record class with every field sampled."""
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], mode) for f in fields(cls) if f.init})


def infer(value) -> Json:
    """The JSON Schema of one JSON value (objects closed: every key required, no others)."""
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: infer(v) for k, v in value.items()},
                "required": list(value), "additionalProperties": False}
    if isinstance(value, list):
        out: Json = {"type": "array"}
        for item in value:
            out["items"] = merge(out["items"], infer(item)) if "items" in out else infer(item)
        return out
    kind = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string"}[type(value)]
    return {"type": kind}


def merge(a: Json, b: Json) -> Json:
    """A schema that accepts what either accepts (for the shapes infer() makes)."""
    kinds = sorted(set(_kinds(a)) | set(_kinds(b)))
    if {"integer", "number"} <= set(kinds):
        kinds.remove("integer")
    out: Json = {**a, **b, "type": kinds[0] if len(kinds) == 1 else kinds}
    if "properties" in a and "properties" in b:
        keys = list(dict.fromkeys([*a["properties"], *b["properties"]]))
        out["properties"] = {k: merge(a["properties"][k], b["properties"][k])
                             if k in a["properties"] and k in b["properties"]
                             else a["properties"].get(k) or b["properties"][k] for k in keys}
        out["required"] = [k for k in a["required"] if k in b["required"]]
    if "items" in a and "items" in b:
        out["items"] = merge(a["items"], b["items"])
    return out


def _kinds(s: Json) -> list[str]:
    return s["type"] if isinstance(s["type"], list) else [s["type"]]


def schema_from(make: Callable[[str], Any]) -> Json:
    """The schema accepting make(mode) for every sampling mode, each turned into JSON."""
    out = infer(make("full"))
    for mode in ("empty", "hollow"):
        out = merge(out, infer(make(mode)))
    return out


@cache
def schemas() -> dict[str, Json]:
    """Every response body's schema by name, for OpenAPI's components."""
    many = lambda cls, m: {"full": [record(cls)], "hollow": [record(cls, "empty")]}.get(m, [])
    text = lambda m: "x" if m == "full" else ""                    
    return {
        "Answer": schema_from(lambda m: record(Answer, m).to_json()),
        "Search": schema_from(lambda m: search_json(text(m), many(Hit, m))),
        "Lookup": schema_from(lambda m: record(Lookup, m).to_json()),
        "Documents": schema_from(lambda m: documents_json(many(Listed, m))),
        "Change": schema_from(lambda m: record(Change, m).to_json()),
        "BuildReport": schema_from(lambda m: record(BuildReport, m).to_json()),
        "Status": schema_from(lambda m: record(Status, m).to_json()),
        "Health": {**schema_from(lambda m: health_json(text(m), text(m), text(m))),
                   "description": f"status: one of {', '.join(HEALTH_STATES)}"},
        "Error": ERROR,
    }


# -- OpenAPI ------------------------------------------------------------------------------------------
def responses(name: str, *errors: int) -> dict:
    """An operation's OpenAPI responses: 200 with the named schema, and its error statuses."""
    def ref(n: str) -> Json:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{n}"}}}
    return {200: {"description": "OK", "content": ref(name)},
            **{e: {"description": "error", "content": ref("Error")} for e in (*errors, 500, 503)}}


def finish_openapi(doc: Json) -> Json:
    """Add the contract's schemas to a generated OpenAPI document; validation errors are 400 (Error),
    not the framework's 422."""
    doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas())
    for ops in doc["paths"].values():
        for op in ops.values():
            op["responses"].pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        doc["components"]["schemas"].pop(name, None)
    return doc

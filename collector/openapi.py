"""`GET /api/v1/openapi.json`: an OpenAPI 3.0 description of the collector API, for clients and fuzzers.

Public on purpose: it says nothing an attacker cannot learn by trying (routes, shapes, the auth scheme) and
the fuzzing run (schemathesis in CI) reads it without credentials. The event schemas are generated from the
event declarations (`govwatch.event_kinds`), so the fuzzer sends typed events of every kind and the
description cannot drift from what ingest validates.
"""

from __future__ import annotations

from typing import Any

from govwatch import __version__
from govwatch.event_kinds import REGISTRY, F
from govwatch.events import MAX_TS, SEVERITIES

NAME_PATTERN = "^[a-z0-9][a-z0-9_.-]{0,62}$"


def field_schema(spec: F) -> dict[str, Any]:
    """JSON Schema (OpenAPI 3.0 dialect) of one declared field."""
    out: dict[str, Any]
    if spec.type == "str":
        out = {"type": "string", "maxLength": spec.max_len}
        if spec.pattern:
            out["pattern"] = f"^(?:{spec.pattern})$"
    elif spec.type == "enum":
        out = {"type": "string", "enum": list(spec.choices)}
    elif spec.type in ("int", "number"):
        out = {"type": "integer" if spec.type == "int" else "number"}
        if spec.minimum is not None:
            out["minimum"] = spec.minimum
        if spec.maximum is not None:
            out["maximum"] = spec.maximum
    elif spec.type == "bool":
        out = {"type": "boolean"}
    elif spec.type == "list":
        out = {"type": "array", "maxItems": spec.max_len, "items": field_schema(spec.items) if spec.items else {}}
    elif spec.type == "map":
        out = object_schema(spec.fields, spec.extra)
    else:
        out = {}
    if spec.nullable:
        out["nullable"] = True
    if spec.doc:
        out["description"] = spec.doc
    return out


def object_schema(fields: dict[str, F], extra: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": {k: field_schema(v) for k, v in fields.items()},
                           "additionalProperties": extra}
    required = [k for k, v in fields.items() if v.required]
    if required:
        out["required"] = required
    return out


def event_schema(kind: str) -> dict[str, Any]:
    declared = REGISTRY[kind]
    return {"type": "object", "description": declared.doc, "required": ["id", "kind", "ts"],
            "additionalProperties": False, "properties": {
                "id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,80}$"},
                "kind": {"type": "string", "enum": [kind]},
                "ts": {"type": "number", "minimum": 0, "maximum": MAX_TS},
                "severity": {"type": "string", "enum": list(SEVERITIES)},
                "summary": {"type": "string", "maxLength": 500},
                "data": object_schema(declared.fields, declared.extra)}}


def _answer(description: str, json_body: bool = True) -> dict[str, Any]:
    if not json_body:
        return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/"
                                                                                              "Answer"}}}}


def _op(summary: str, answers: dict[str, str], secured: bool = True, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, text: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary,
                          "responses": {code: _answer(why, not text) for code, why in answers.items()}}
    if not secured:
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def document() -> dict[str, Any]:
    """The whole description (built per call: kinds declared later by other modules are included)."""
    events_ref = {"type": "array", "maxItems": 5000, "items": {"$ref": "#/components/schemas/Event"}}
    batch = {"oneOf": [events_ref, {"type": "object", "required": ["events"], "additionalProperties": True,
                                    "properties": {"events": events_ref, "sent_at": {"type": "number"}}}]}
    enroll = {"type": "object", "required": ["name", "enroll_key"], "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN}, "enroll_key": {"type": "string", "maxLength": 200},
        "ministry": {"type": "string", "maxLength": 100}, "hostname": {"type": "string", "maxLength": 200},
        "version": {"type": "string", "maxLength": 40}}}
    name = _path_param("name", {"type": "string", "pattern": NAME_PATTERN})
    incident = _path_param("id", {"type": "integer", "minimum": 1, "maximum": 10**12})
    action = _path_param("action", {"type": "string", "enum": ["acknowledge", "resolve", "comment", "rebaseline"]})
    viewer = {"200": "listed", "401": "no or wrong credentials", "403": "role too low"}
    admin = {"200": "done", "401": "no or wrong credentials", "403": "role too low", "404": "no such thing"}
    paths = {
        "/healthz": {"get": _op("process alive", {"200": "ok"}, secured=False, text=True)},
        "/readyz": {"get": _op("store writable (free disk, a probe write commits)",
                               {"200": "ready", "503": "not ready, with the reason"}, secured=False, text=True)},
        "/metrics": {"get": _op("Prometheus text format", {"200": "metrics"}, secured=False, text=True)},
        "/api/v1/openapi.json": {"get": _op("this description", {"200": "OpenAPI 3.0 JSON"}, secured=False)},
        "/api/v1/enroll": {"post": _op("enroll an agent with the enrollment key", {
            "201": "enrolled: {agent, token, collector_version}", "400": "bad field", "403": "wrong key",
            "409": "name taken", "413": "body over 4 KiB"}, secured=False, body=enroll)},
        "/api/v1/events": {"post": _op("post a batch of events (agent token; gzip allowed)", {
            "200": "{accepted, duplicates[, commands]}", "400": "bad event: the field is named",
            "401": "no or wrong agent token", "403": "posting as another agent", "413": "batch or body too large",
            "429": "rate limited", "503": "store cannot write now"}, body=batch)},
        "/api/v1/agents": {"get": _op("enrolled agents", viewer)},
        "/api/v1/agents/{name}": {"delete": _op("revoke an agent (admin)", admin, params=[name])},
        "/api/v1/sites": {"get": _op("sites and their state", viewer)},
        "/api/v1/sites/{name}/rebaseline": {"post": _op("re-learn a site's known-good page (admin)",
                                                        {**admin, "503": "probes not running"}, params=[name])},
        "/api/v1/incidents": {"get": _op("incidents, newest first", viewer, params=[
            {"name": "status", "in": "query", "schema": {"type": "string",
                                                         "enum": ["open", "acknowledged", "resolved"]}}])},
        "/api/v1/incidents/{id}": {"get": _op("one incident with its evidence", {**viewer, "404": "no such incident"},
                                              params=[incident])},
        "/api/v1/incidents/{id}/{action}": {"post": _op("act on an incident (admin; sessions need X-CSRF-Token)", {
            **admin, "400": "bad request"}, params=[incident, action],
            body={"type": "object", "properties": {"text": {"type": "string", "maxLength": 4000}}})},
    }
    return {"openapi": "3.0.3",
            "info": {"title": "govwatch collector API", "version": __version__,
                     "description": "Agents post events; security staff read incidents, agents and sites. "
                                    "Bearer tokens: an agent's (from enrollment) or the admin token."},
            "paths": paths, "security": [{"bearer": []}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                           "schemas": {"Event": {"oneOf": [event_schema(k) for k in REGISTRY]},
                                       "Answer": {"type": "object"}}}}

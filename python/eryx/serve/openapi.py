"""The OpenAPI 3.1 document served at /v1/openapi.json.

Design: written out by hand from the routes in app.py (one table, no
generator dependency); test_serve.py checks that every route app.py serves
is in it.
"""

_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}
_EXEC = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}},
                     "text/event-stream": {"schema": {"type": "string", "description":
                         "events stdout/stderr ({text}) then result (Result + status)"}}}}


def _op(summary, ok, body=None, codes=(400, 401, 404, 409, 413, 422, 503)):
    op = {"summary": summary, "responses": {"200" if ok != "201" and ok != "204" else ok:
                                            {"description": "ok"}}}
    for c in codes:
        op["responses"][str(c)] = _ERR
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return op


def document():
    limits = {"type": "object", "additionalProperties": False, "properties": {
        "timeout_ms": {"type": "integer", "minimum": 1},
        "max_memory_bytes": {"type": "integer", "minimum": 1},
        "max_fuel": {"type": "integer", "minimum": 1}}}
    sid = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    execute = _op("Run code in the session, commit the next version", "200", {
        "type": "object", "required": ["code"], "additionalProperties": False,
        "properties": {"code": {"type": "string"}, "stream": {"type": "boolean"}}})
    execute["parameters"] = [sid]
    execute["responses"]["200"] = dict({"description": "the result"}, **_EXEC)
    oneoff = _op("Run code once in a fresh sandbox", "200", {
        "type": "object", "required": ["code"], "additionalProperties": False,
        "properties": {"code": {"type": "string"}, "limits": limits,
                       "packages": {"type": "array", "items": {"type": "string"}},
                       "network": {"type": "boolean"}, "stream": {"type": "boolean"}}})
    oneoff["responses"]["200"] = dict({"description": "the result"}, **_EXEC)
    get_s = _op("Session metadata (version, size)", "200")
    del_s = _op("Delete the session", "204")
    path = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "a path under /data"}
    get_f = _op("Read a /data file", "200")
    put_f = _op("Write a /data file (commits the next version)", "200")
    put_f["requestBody"] = {"content": {"application/octet-stream": {"schema": {
        "type": "string", "format": "binary"}}}}
    for o in (get_s, del_s):
        o["parameters"] = [sid]
    for o in (get_f, put_f):
        o["parameters"] = [sid, path]
    snap = _op("The latest committed snapshot (state + files)", "200")
    snap["parameters"] = [sid]
    return {
        "openapi": "3.1.0",
        "info": {"title": "eryx serve", "version": "1",
                 "description": "Run untrusted Python in Eryx sandboxes over HTTP."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object",
                          "properties": {"kind": {"type": "string"},
                                         "message": {"type": "string"}}}}},
                "Result": {"type": "object", "properties": {
                    "stdout": {"type": "string"}, "stderr": {"type": "string"},
                    "result": {}, "result_error": {"type": ["string", "null"]},
                    "duration_ms": {"type": "number"}, "exit_code": {},
                    "output_truncated": {"type": "boolean"},
                    "error": {"type": ["object", "null"]},
                    "version": {"type": "integer"},
                    "snapshot_bytes": {"type": "integer"}}}}},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/execute": {"post": oneoff},
            "/v1/sessions": {"post": _op("Create a session", "201", {
                "type": "object", "additionalProperties": False,
                "properties": {"limits": limits}})},
            "/v1/sessions/{id}": {"get": get_s, "delete": del_s},
            "/v1/sessions/{id}/execute": {"post": execute},
            "/v1/sessions/{id}/files/{path}": {"get": get_f, "put": put_f},
            "/v1/sessions/{id}/snapshot": {"get": snap},
            "/v1/healthz": {"get": {"summary": "Liveness and store reachability",
                                    "security": [], "responses": {
                                        "200": {"description": "ok"}, "503": _ERR}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                         "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus text", "responses": {
                "200": {"description": "ok"}, "401": _ERR}}},
            "/mcp": {"post": {"summary": "MCP streamable HTTP (eryx mcp's tools)",
                              "responses": {"200": {"description": "MCP"}}}},
        },
    }

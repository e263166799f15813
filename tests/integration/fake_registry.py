#!/usr/bin/env python3
"""A small Schema Registry for the contract test of bw_registry: the
Confluent REST endpoints Bellwether uses, answered as the Confluent
registry answers them (status codes, error_code, message), and nothing else.

  POST /subjects/{subject}/versions  {"schema": "..."} -> {"id": N}
  POST /subjects/{subject}           {"schema": "..."} -> {"subject", "version", "id", "schema"}
                                      404 40401 subject not found, 40403 schema not found
  GET  /schemas/ids/{id}             -> {"schema": "..."}, 404 40403

Ids start at 101 (apart from the manifest's) and are global: the same
schema text under two subjects has one id, as in Confluent's registry.
Usage: fake_registry.py PORTFILE [MODE] [USER:PASSWORD]
MODE: ok (default), 500 (every request fails), 409 (every registration is
incompatible), garbage (200 with a body that is not JSON), noid (200 JSON
without an id). With USER:PASSWORD every request needs that basic auth.
Each request is appended to PORTFILE.log as "METHOD PATH STATUS".
"""
import base64
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

PORTFILE = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "ok"
AUTH = sys.argv[3] if len(sys.argv) > 3 else None
ids = {}  # schema text -> id
subjects = {}  # subject -> [schema text, ...]


class Registry(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with open(PORTFILE + ".log", "a") as fp:
            fp.write("%s %s %d\n" % (self.command, self.path, status))

    def error(self, status, code, message):
        self.answer(status, {"error_code": code, "message": message})

    def authorised(self):
        if not AUTH:
            return True
        want = "Basic " + base64.b64encode(AUTH.encode()).decode()
        if self.headers.get("Authorization") == want:
            return True
        self.error(401, 401, "Unauthorized")
        return False

    def do_GET(self):
        if not self.authorised():
            return
        parts = self.path.split("/")
        if len(parts) == 4 and parts[1] == "schemas" and parts[2] == "ids":
            for text, i in ids.items():
                if str(i) == parts[3]:
                    return self.answer(200, {"schema": text})
            return self.error(404, 40403, "Schema %s not found" % parts[3])
        self.error(404, 404, "HTTP 404 Not Found")

    def do_POST(self):
        if not self.authorised():
            return
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        if MODE == "500":
            return self.error(500, 50001, "Error in the backend data store")
        if MODE == "garbage":
            return self.answer(200, b"<html>proxy error</html>")
        if MODE == "noid":
            return self.answer(200, {"version": 1})
        try:
            text = json.loads(raw)["schema"]
            json.loads(text)
        except (ValueError, KeyError, TypeError):
            return self.error(422, 42201, "Either the input schema or one its references is invalid")
        parts = [urllib.parse.unquote(p) for p in self.path.split("/")]
        if len(parts) == 4 and parts[1] == "subjects" and parts[3] == "versions":
            if MODE == "409":
                return self.error(409, 409, "Schema being registered is incompatible with an "
                                  "earlier schema for subject \"%s\"" % parts[2])
            ids.setdefault(text, 101 + len(ids))
            if text not in subjects.setdefault(parts[2], []):
                subjects[parts[2]].append(text)
            return self.answer(200, {"id": ids[text]})
        if len(parts) == 3 and parts[1] == "subjects":
            if parts[2] not in subjects:
                return self.error(404, 40401, "Subject '%s' not found." % parts[2])
            if text not in subjects[parts[2]]:
                return self.error(404, 40403, "Schema not found")
            return self.answer(200, {"subject": parts[2],
                                     "version": subjects[parts[2]].index(text) + 1,
                                     "id": ids[text], "schema": text})
        self.error(404, 404, "HTTP 404 Not Found")


def main():
    server = HTTPServer(("127.0.0.1", 0), Registry)
    with open(PORTFILE + ".tmp", "w") as fp:
        fp.write(str(server.server_address[1]))
    import os
    os.rename(PORTFILE + ".tmp", PORTFILE)
    server.serve_forever()


if __name__ == "__main__":
    main()

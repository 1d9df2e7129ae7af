"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

One run tests one credential set, named by POSTERN_ST_ACCESS (client, server or admin).
Before the document is loaded:

- operations the set may not call are dropped (their `x-access-types`, or the enum of their
  x-stack-access-type header, lacks it); public operations stay in the client run only;
- the optional credential headers the run does not send itself (the other access types'
  keys, user and admin tokens) are dropped from the operations' parameters, so generated
  garbage in them does not turn most requests into 401s. The headers the run sends
  (`st run -H`) are fixed values: schemathesis does not generate them.

The document is otherwise tested as served.
"""

import os

import schemathesis

ACCESS = os.environ.get("POSTERN_ST_ACCESS", "client")
# Headers given with -H in this run (lower case, comma-separated).
SENT = {h.strip().lower() for h in os.environ.get("POSTERN_ST_SENT_HEADERS", "").split(",") if h.strip()}
CREDENTIAL_HEADERS = {
    "x-stack-publishable-client-key",
    "x-stack-secret-server-key",
    "x-stack-super-secret-admin-key",
    "x-stack-admin-access-token",
    "x-stack-access-token",
    "x-stack-refresh-token",
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _access_types(operation):
    declared = operation.get("x-access-types")
    if isinstance(declared, str):
        return {t.strip() for t in declared.split(",")}
    for p in operation.get("parameters", []):
        if p.get("in") == "header" and p.get("name", "").lower() == "x-stack-access-type":
            return set(p.get("schema", {}).get("enum", [])) or {"client", "server", "admin"}
    return {"public"}


def _callable(operation):
    types = _access_types(operation)
    return ACCESS in types or ("public" in types and ACCESS == "client")


@schemathesis.hook
def before_load_schema(context, raw_schema):
    kept = dropped = 0
    for path, item in list(raw_schema.get("paths", {}).items()):
        for method in [m for m in item if m in METHODS]:
            operation = item[method]
            if not _callable(operation):
                del item[method]
                dropped += 1
                continue
            kept += 1
            operation["parameters"] = [
                p
                for p in operation.get("parameters", [])
                if not (
                    p.get("in") == "header"
                    and p.get("name", "").lower() in CREDENTIAL_HEADERS - SENT
                    and not p.get("required")
                )
            ]
        if not any(m in METHODS for m in item):
            del raw_schema["paths"][path]
    print(f"postern hooks: {ACCESS} run, {kept} operations ({dropped} not callable as {ACCESS})", flush=True)

"""Schemathesis hooks for the contract fuzz run (tests/api/contract.rs).

A client sends a fresh Idempotency-Key with each new request; the fuzzer draws keys from
the declared pattern and so reuses the same few values across different requests, which
the server rightly refuses (422 idempotency-key-reused). A schema-valid key is therefore
replaced by a fresh one; a key drawn to break the pattern is sent as drawn.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers
    if not headers:
        return
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        headers["Idempotency-Key"] = str(uuid.uuid4())

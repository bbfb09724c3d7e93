"""Validate Sanad's served OpenAPI document and the trust list's JSON Schema.

Usage: validate_openapi.py OPENAPI.json TRUST_LIST_PAYLOAD.json TRUST_SCHEMA.json SAMPLES.json

- OPENAPI.json must validate as OpenAPI 3.1 with zero errors (openapi-spec-validator).
- Every response must have a description; errors are application/problem+json.
- The trust list payload must validate against the served JSON Schema (jsonschema, 2020-12).
- SAMPLES.json maps a pattern's name to values the server produced or accepted: each must
  match the pattern the document declares for it (so the formats do not lie).
Exit status 0 when all hold; every failure is printed.
"""
import json
import re
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

doc = json.load(open(sys.argv[1]))
payload = json.load(open(sys.argv[2]))
schema = json.load(open(sys.argv[3]))
samples = json.load(open(sys.argv[4]))
failures = []
# Problem bodies: Sanad's, and the VC-API's (with `errors`, `verified`, `outcome`, …).
PROBLEMS = {"#/components/schemas/Problem", "#/components/schemas/VcApiProblem"}

errors = list(OpenAPIV31SpecValidator(doc).iter_errors())
for e in errors:
    failures.append(f"openapi: {'/'.join(map(str, e.path))}: {e.message}")
print(f"openapi-spec-validator: {len(errors)} errors")

for path, item in doc["paths"].items():
    for method, op in item.items():
        for status, r in op["responses"].items():
            if not r.get("description"):
                failures.append(f"{method} {path} {status}: no description")
            for media, m in r.get("content", {}).items():
                if m.get("schema", {}).get("$ref") in PROBLEMS and media != "application/problem+json":
                    failures.append(f"{method} {path} {status}: a problem as {media}")

Draft202012Validator.check_schema(schema)
for e in Draft202012Validator(schema).iter_errors(payload):
    failures.append(f"trust list: {'/'.join(map(str, e.path))}: {e.message}")

schemas = doc["components"]["schemas"]
patterns = {
    "credential_id": schemas["CredentialOut"]["properties"]["id"]["pattern"],
    "person_id": schemas["PersonOut"]["properties"]["id"]["pattern"],
    "national_id": schemas["PersonInput"]["properties"]["national_id"]["pattern"],
}
for name, values in samples.items():
    for v in values:
        if not re.fullmatch(patterns[name].strip("^$"), v):
            failures.append(f"{name} {v!r} does not match {patterns[name]}")
for name, p in patterns.items():
    print(f"{name}: {p}")

for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)

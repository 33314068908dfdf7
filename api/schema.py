"""How the OpenAPI schema describes the bearer token (loaded by api/urls.py)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token from the API tokens page."}


# The largest value of an integer column depends on the database (PostgreSQL's integer is
# 32 bits, SQLite's 64): left out, so the schema is the same on both stacks.
BACKEND_BOUNDS = {2**31 - 1, 2**63 - 1, -(2**31), -(2**63)}


def drop_backend_bounds(result, generator, request, public):
    """drf-spectacular post-processing hook (SPECTACULAR_SETTINGS)."""
    _drop(result)
    return result


def _drop(node):
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for bound in ("maximum", "minimum"):
                if node.get(bound) in BACKEND_BOUNDS:
                    del node[bound]
                    node.pop("format", None)
        for value in node.values():
            _drop(value)
    elif isinstance(node, list):
        for value in node:
            _drop(value)


ERRORS = {
    "400": "The form's messages per field, as on the pages: {\"field\": [\"message\"]}.",
    "401": "No token, or an unknown, revoked or expired one: {\"detail\": \"why\"}.",
    "403": "The token's scope or its user's permissions do not allow this: "
           "{\"detail\": \"why\"}.",
    "404": "No such record, or not one this token may see.",
    "429": "Over the token's rate limit; the Retry-After header says when to try again.",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: the answers every operation may give besides
    its own, so a client's author sees them in the docs."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "type": "object", "properties": {"detail": {"type": "string"}},
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            codes = ["401", "403", "429"]
            if method in ("post", "patch", "put"):
                codes.insert(0, "400")
            if "{id}" in path:
                codes.append("404")
            for code in codes:
                operation["responses"].setdefault(code, {"description": ERRORS[code],
                                                         "content": error})
    return result

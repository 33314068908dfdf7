"""How the OpenAPI schema describes the bearer token (loaded by api/apps.py)."""

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

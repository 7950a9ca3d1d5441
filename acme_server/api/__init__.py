"""The REST API under /api/v1 (routes.py is the table; http.py the token/role/validation pipeline;
one module per resource group; openapi.py the document and docs page built from the table)."""

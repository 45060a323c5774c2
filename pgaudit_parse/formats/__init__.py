"""Output formats: Guardium records, OCSF, ECS, and the JSON Schemas of every output.

>>> sorted(schema("events")["properties"])[:3]
['application_name', 'audit', 'backend_type']
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["schema", "SCHEMA_NAMES"]

#: Schemas shipped in ``pgaudit_parse/formats/schemas/<name>.schema.json``.
SCHEMA_NAMES = ("events", "ocsf", "ecs")


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an output: ``events``, ``ocsf``, ``ecs`` (or any
    other ``<name>.schema.json`` shipped with the package)."""
    path = resources.files(__package__).joinpath("schemas", f"{name}.schema.json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(f"no schema named {name!r}") from None
    loaded: dict[str, Any] = json.loads(text)
    return loaded

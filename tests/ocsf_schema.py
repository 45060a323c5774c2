"""A validator built from OCSF schema files (fixtures/ocsf/<version>/, OCSF's own layout).

It checks an event the way the OCSF schema defines it, without any code of the project:

* the class is found from ``class_uid`` (``category_uid * 1000 + class uid``) and its
  attributes are those of the class and of every class it ``extends`` (``base_event``
  last), the nearest definition winning;
* every ``required`` attribute is present (in the event and in every object inside it);
* every attribute is one the class or object defines (no invented keys);
* values have the dictionary's type (``integer_t``, ``long_t``, ``string_t``,
  ``boolean_t``, ``timestamp_t``, ``port_t``, ``ip_t``, objects, arrays);
* ``*_id`` values are members of the enum the class, object or dictionary gives;
* ``at_least_one`` constraints hold; ``type_uid == class_uid * 100 + activity_id``.

>>> schema = OcsfSchema.load(FIXTURES / "1.1.0")
>>> schema.validate({"class_uid": 6005})[:2]
['missing required attribute activity_id', 'missing required attribute category_uid']
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OcsfSchema", "FIXTURES"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ocsf"


def _read(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


@dataclass(frozen=True)
class OcsfSchema:
    """The classes, objects and dictionary of one OCSF version."""

    version: str
    dictionary: dict[str, dict[str, Any]]
    types: dict[str, dict[str, Any]]
    classes: dict[int, tuple[str, dict[str, dict[str, Any]], list[list[str]]]]
    objects: dict[str, tuple[dict[str, dict[str, Any]], list[list[str]]]]

    @classmethod
    def load(cls, root: Path) -> OcsfSchema:
        dictionary = _read(root / "dictionary.json")
        categories = _read(root / "categories.json")["attributes"]
        events = {(data := _read(path))["name"]: data
                  for path in sorted((root / "events").rglob("*.json"))}
        objects_raw = {(data := _read(path))["name"]: data
                       for path in sorted((root / "objects").glob("*.json"))}
        classes: dict[int, tuple[str, dict[str, dict[str, Any]], list[list[str]]]] = {}
        for name, data in events.items():
            if "uid" not in data or name == "base_event":
                continue
            chain = cls._chain(name, events)
            category = next(events[c]["category"] for c in chain if "category" in events[c])
            class_uid = categories[category]["uid"] * 1000 + data["uid"]
            classes[class_uid] = (data["caption"], cls._merge(chain, events),
                                  cls._constraints(chain, events))
        objects = {name: (cls._merge(cls._chain(name, objects_raw), objects_raw),
                          cls._constraints(cls._chain(name, objects_raw), objects_raw))
                   for name in objects_raw}
        return cls(_read(root / "version.json")["version"], dictionary["attributes"],
                   dictionary["types"]["attributes"], classes, objects)

    @staticmethod
    def _chain(name: str, table: dict[str, dict[str, Any]]) -> list[str]:
        chain = [name]
        while table[chain[-1]].get("extends") in table:
            chain.append(table[chain[-1]]["extends"])
        return chain

    @staticmethod
    def _merge(chain: list[str], table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for name in reversed(chain):  # the base first, the nearest definition last
            for attribute, spec in table[name]["attributes"].items():
                merged[attribute] = {**merged.get(attribute, {}), **spec}
        return merged

    @staticmethod
    def _constraints(chain: list[str], table: dict[str, dict[str, Any]]) -> list[list[str]]:
        return [table[name]["constraints"]["at_least_one"] for name in chain
                if "at_least_one" in table[name].get("constraints", {})]

    def validate(self, event: dict[str, Any]) -> list[str]:
        """Every way ``event`` breaks the schema (empty when it is valid)."""
        class_uid = event.get("class_uid")
        if class_uid not in self.classes:
            problems = [f"missing required attribute {name}" for name in
                        ("activity_id", "category_uid", "class_uid", "metadata",
                         "severity_id", "time", "type_uid") if name not in event]
            return problems + [f"unknown class_uid {class_uid!r}"]
        _caption, attributes, constraints = self.classes[class_uid]
        problems = self._check(event, attributes, constraints, "")
        if event.get("category_uid") != class_uid // 1000:
            problems.append(f"category_uid {event.get('category_uid')!r} is not "
                            f"{class_uid // 1000}")
        activity = event.get("activity_id")
        if isinstance(activity, int) and event.get("type_uid") != class_uid * 100 + activity:
            problems.append(f"type_uid {event.get('type_uid')!r} is not class_uid * 100 + "
                            "activity_id")
        return problems

    def _check(self, value: dict[str, Any], attributes: dict[str, dict[str, Any]],
               constraints: list[list[str]], where: str) -> list[str]:
        problems = []
        for name, spec in attributes.items():
            if spec.get("requirement") == "required" and name not in value:
                problems.append(f"missing required attribute {where}{name}")
        for group in constraints:
            if not any(name in value for name in group):
                problems.append(f"{where or 'event'}: at least one of {group} is required")
        for name, item in value.items():
            if name not in attributes:
                problems.append(f"{where}{name} is not an attribute here")
                continue
            problems += self._check_value(name, item, attributes[name], f"{where}{name}")
        return problems

    def _check_value(self, name: str, item: Any, spec: dict[str, Any], where: str) -> list[str]:
        entry = self.dictionary.get(name)
        if entry is None:
            return [f"{where}: {name} is not in the dictionary"]
        type_name = entry["type"]
        if entry.get("is_array"):
            if not isinstance(item, list):
                return [f"{where}: expected an array of {type_name}"]
            return [p for i, element in enumerate(item)
                    for p in self._check_type(type_name, element, f"{where}[{i}]")]
        problems = self._check_type(type_name, item, where)
        enum = spec.get("enum") or entry.get("enum")
        if enum is not None and not problems and str(item) not in enum:
            problems.append(f"{where}: {item!r} is not one of {sorted(enum, key=int)}")
        return problems

    def _check_type(self, type_name: str, item: Any, where: str) -> list[str]:
        if type_name in self.objects:
            if not isinstance(item, dict):
                return [f"{where}: expected a {type_name} object"]
            attributes, constraints = self.objects[type_name]
            return self._check(item, attributes, constraints, where + ".")
        if type_name == "object":
            return [] if isinstance(item, dict) else [f"{where}: expected an object"]
        if type_name not in self.types:
            return [f"{where}: type {type_name} is not in the fixture (object not shipped)"]
        base = self.types[type_name].get("type")
        if type_name == "ip_t":
            try:
                ipaddress.ip_address(item)
            except (ValueError, TypeError):
                return [f"{where}: {item!r} is not an IP address"]
            return []
        if type_name == "port_t":
            low, high = self.types[type_name]["range"]
            if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
                return [f"{where}: {item!r} is not a port"]
            return []
        if base == "integer":
            ok = isinstance(item, int) and not isinstance(item, bool)
        elif base == "string":
            ok = isinstance(item, str)
        elif base == "boolean":
            ok = isinstance(item, bool)
        elif base == "float":
            ok = isinstance(item, (int, float)) and not isinstance(item, bool)
        elif base is None:
            ok = True
        else:
            return self._check_type(base, item, where)
        return [] if ok else [f"{where}: {item!r} is not {type_name}"]

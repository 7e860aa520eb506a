"""labs/lab.schema.json: the JSON Schema of lab.yaml, generated from what the catalog's validator
(infra.catalog.load_lab, infra.check_spec.validate_spec) enforces, so an editor completes and checks a
lab.yaml as the catalog will. `invoke lab-schema` writes it; a test keeps it current.

What a schema cannot say stays the validator's alone: the slug equals the folder's, check ids are
unique, the guides and folders exist.
"""
from __future__ import annotations

import json
from pathlib import Path

from infra import catalog, check_spec, solve_spec
from infra.errors import LabsError
from infra.layers import LAYERS
from infra.paths import LABS_DIR

SCHEMA_FILE = LABS_DIR / "lab.schema.json"
JSON_TYPES = {str: "string", int: "integer", list: "array", dict: "object"}
NOT_BLANK = {"type": "string", "pattern": r"\S"}
PRESENT = {"not": {"enum": [None, ""]}}  # validate_spec: a required field is neither null nor ""
# A field's expected value: one comparison (check_spec.COMPARISONS), or any other value, compared whole.
_COMPARISONS = {">=": {"type": "number"}, "<=": {"type": "number"}, "in": {"type": "array"}, "matches": {"type": "string"}}
COMPARISON_OR_VALUE = {"if": {"type": "object", "minProperties": 1, "maxProperties": 1,
                              "propertyNames": {"enum": list(check_spec.COMPARISONS)}},
                       "then": {"properties": _COMPARISONS}}


def _yaml_name(field: str) -> str:
    """A check field as lab.yaml spells it: the engine keeps a check's object kind under `kind_of`."""
    return "object" if field == "kind_of" else field


def _check_schema(kind: str) -> dict:
    required, optional = check_spec.KINDS[kind]
    properties = {_yaml_name(name): (PRESENT if name in required else {})
                  for name in sorted(check_spec.COMMON | required | optional)}
    properties.update({
        "id": {"type": "string", "pattern": f"^{check_spec.CHECK_ID}$"},
        "kind": {"const": kind},
        "hint": {"type": "object", "required": list(check_spec.LANGS),
                 "properties": {lang: NOT_BLANK for lang in check_spec.LANGS}},
        "needs_containers": {"type": "boolean"},
    })
    if kind == "rollout":
        properties["object"] = {"enum": list(check_spec.ROLLOUT_KINDS)}
    for name in set(check_spec.POSITIVE) & (required | optional):
        properties[name] = {"type": "number", "exclusiveMinimum": 0}  # a minimum of 0 always holds
    if "fields" in optional:
        properties["fields"] = {"type": "object", "additionalProperties": COMPARISON_OR_VALUE}
    if kind == "helm_release":
        properties["history"] = {"type": "array", "items": NOT_BLANK}
    extra = {}
    if kind == "lease":
        properties["acquired_since_start"] = {"type": "boolean"}
        extra = {"anyOf": [{"required": ["transitions"]},
                           {"required": ["acquired_since_start"], "properties": {"acquired_since_start": {"const": True}}}]}
    return {
        "title": f"a '{kind}' check",
        "type": "object",
        "properties": properties,
        "required": ["id", "kind", "hint", *sorted(_yaml_name(name) for name in required)],
        "additionalProperties": False,
        **extra,
    }


def _step_schema(action: str) -> dict:
    """One solve step (infra.solve_spec.validate_step): its action and the options."""
    if action == "restart":
        value = {"enum": list(solve_spec.COMPONENTS)}
        fails = {"const": False}
    else:
        reserved = "|".join(flag.lstrip("-") for flag in solve_spec.RESERVED_FLAGS)
        interactive = list(solve_spec.INTERACTIVE_FLAGS)
        value = {"type": "array", "minItems": 1,
                 "items": {"type": "string", "pattern": r"\S",
                           "not": {"anyOf": [{"pattern": f"^--({reserved})(=|$)"}, {"enum": interactive}]}}}
        fails = {"type": "boolean"}
    return {
        "title": f"a '{action}' step",
        "type": "object",
        "properties": {action: value, "fails": fails, "guide": {"type": "integer", "minimum": 0},
                       "needs_containers": {"type": "boolean"}},
        "required": [action],
        "additionalProperties": False,
    }


def lab_schema() -> dict:
    """The schema document (JSON Schema 2020-12)."""
    refined = {  # beyond each field's type (catalog.FIELDS), what load_lab checks of it
        "slide": {"pattern": r"\S", "description": "the slide title exactly as in the deck"},
        "slug": {"pattern": f"^{catalog.SLUG}$", "description": "the folder's name after NN- (ingress in 07-ingress)"},
        "layers": {"items": {"enum": sorted(LAYERS)}, "description": "layers the lab needs (with their dependencies)"},
        "duration": {"minimum": 1, "description": "minutes"},
        "namespace": {"description": "where students work"},
        "objectives": {"required": list(check_spec.LANGS), "additionalProperties": False,
                       "properties": {lang: {"type": "array", "minItems": 1, "items": NOT_BLANK}
                                      for lang in check_spec.LANGS}},
        "checks": {"minItems": 1, "description": "ids unique within the lab",
                   "items": {"oneOf": [_check_schema(kind) for kind in check_spec.KINDS]}},
        "solve": {"description": "steps `lab solve` runs after applying solution/, in order: what the guide does "
                                 "that is no file (kubectl debug, helm, restarting the scheduler)",
                  "items": {"oneOf": [_step_schema(action) for action in solve_spec.ACTIONS]}},
    }
    fields = {name: {"type": JSON_TYPES[kind], **refined.get(name, {})} for name, kind in catalog.FIELDS.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "k8s-labs lab.yaml",
        "description": "One lab of the course (labs/NN-<slug>/lab.yaml). Generated by `invoke lab-schema` from "
                       "infra/catalog.py and infra/check_spec.py: do not edit.",
        "type": "object",
        "properties": fields,
        "required": [name for name in catalog.FIELDS if name not in catalog.OPTIONAL_FIELDS],
        "additionalProperties": False,
    }


def schema_text() -> str:
    return json.dumps(lab_schema(), indent=2, ensure_ascii=False) + "\n"


def regenerate(check: bool = False, file: Path = SCHEMA_FILE) -> str:
    """`invoke lab-schema`: write the schema file (or, `check`, only say that it is current); the line
    to print. LabsError (one line) when checking finds it missing or out of date."""
    text = schema_text()
    if not check:
        file.write_text(text, encoding="utf-8")
        return f"wrote {file}"
    try:
        current = file.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:
        raise LabsError(f"{file} is {'missing' if current is None else 'out of date'}: run `invoke lab-schema`")
    return f"{file} is current"

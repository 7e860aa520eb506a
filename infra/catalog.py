"""The lab catalog: every labs/NN-<slug>/lab.yaml, validated, and lookup by slug or number.

Plain Python and PyYAML only, so `invoke lab list` stays instant.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra import layers as layer_registry
from infra.check_spec import LANGS, validate_spec
from infra.errors import LabsError
from infra.paths import LABS_DIR
from infra.solve_spec import validate_steps

# libyaml's safe loader when PyYAML has it (10x faster: `lab list` parses every lab.yaml).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"  # a lab's slug: its folder's name after NN-
_FOLDER = re.compile(rf"^(\d{{2}})-({SLUG})$")
_REQUIRED_FILES = ("README.fr.md", "README.en.md")
_REQUIRED_DIRS = ("manifests", "solution")
# lab.yaml: every field and its type (labs/lab.schema.json is generated from these, infra/lab_schema.py)
FIELDS = {
    "slide": str,
    "slug": str,
    "layers": list,
    "duration": int,
    "namespace": str,  # where students work; `lab check --namespace` overrides it (classrooms)
    "objectives": dict,
    "checks": list,
    "solve": list,  # optional: steps `lab solve` runs after solution/ (infra.solve_spec)
}
OPTIONAL_FIELDS = ("solve",)


@dataclass(frozen=True)
class Lab:
    number: int
    slug: str
    slide: str
    layers: tuple[str, ...]
    duration: int  # minutes
    objectives: dict[str, tuple[str, ...]]  # language -> objectives
    namespace: str
    checks: tuple[dict, ...]  # normalised by infra.check_spec.validate_spec
    path: Path
    solve: tuple[dict, ...] = ()  # steps after solution/, normalised by infra.solve_spec.validate_steps

    @property
    def id(self) -> str:
        return f"{self.number:02d}-{self.slug}"

    def layer_closure(self) -> list[str]:
        return layer_registry.closure(self.layers)


def _fail(file: Path, field: str | None, problem: str) -> LabsError:
    where = f"{file}" + (f": field '{field}'" if field else "")
    return LabsError(f"{where}: {problem}")


def load_lab(folder: Path) -> Lab:
    """Read and validate one lab folder; any mistake names the file and the field."""
    file = folder / "lab.yaml"
    match = _FOLDER.match(folder.name)
    if not match:
        raise _fail(folder, None, "lab folders are named NN-<slug> (e.g. 07-ingress)")
    if not file.is_file():
        raise _fail(file, None, "missing: every lab folder needs a lab.yaml")
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise _fail(file, None, f"not valid YAML{line}: fix the syntax") from None
    if not isinstance(data, dict):
        raise _fail(file, None, "must be a mapping of fields (slide, slug, layers, duration, namespace, objectives, checks)")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise _fail(file, unknown[0], f"unknown field (allowed: {', '.join(FIELDS)})")
    for field, kind in FIELDS.items():
        if field not in data and field in OPTIONAL_FIELDS:
            continue
        if field not in data:
            raise _fail(file, field, "missing")
        if not isinstance(data[field], kind) or isinstance(data[field], bool):
            raise _fail(file, field, f"must be a {kind.__name__}, got {type(data[field]).__name__}")
    number, slug = int(match.group(1)), match.group(2)
    if data["slug"] != slug:
        raise _fail(file, "slug", f"'{data['slug']}' does not match the folder name '{folder.name}'")
    if not data["slide"].strip():
        raise _fail(file, "slide", "must be the slide title exactly as in the deck")
    if data["duration"] <= 0:
        raise _fail(file, "duration", "must be a positive number of minutes")
    for layer in data["layers"]:
        if layer not in layer_registry.LAYERS:
            known = ", ".join(sorted(layer_registry.LAYERS))
            raise _fail(file, "layers", f"unknown layer '{layer}' (known: {known})")
    objectives = data["objectives"]
    for lang in LANGS:
        items = objectives.get(lang)
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip() for i in items):
            raise _fail(file, f"objectives.{lang}", "must be a non-empty list of sentences")
    extra_langs = sorted(set(objectives) - set(LANGS))
    if extra_langs:
        raise _fail(file, f"objectives.{extra_langs[0]}", f"unknown language (use {', '.join(LANGS)})")
    if not data["checks"]:
        raise _fail(file, "checks", "needs at least one check (see infra/check_spec.py for the vocabulary)")
    checks = tuple(validate_spec(check, f"{file}: checks[{i}]") for i, check in enumerate(data["checks"]))
    ids = [check["id"] for check in checks]
    if len(set(ids)) != len(ids):
        raise _fail(file, "checks", f"check ids must be unique, got {ids}")
    for name in _REQUIRED_FILES:
        if not (folder / name).is_file():
            raise _fail(folder / name, None, "missing: every lab has a French and an English guide")
    for name in _REQUIRED_DIRS:
        if not (folder / name).is_dir():
            raise _fail(folder / name, None, "missing: every lab has a starting point and a solution folder")
    return Lab(
        number=number,
        slug=slug,
        slide=data["slide"],
        layers=tuple(data["layers"]),
        duration=data["duration"],
        objectives={lang: tuple(objectives[lang]) for lang in LANGS},
        namespace=data["namespace"],
        checks=checks,
        path=folder,
        solve=validate_steps(data.get("solve", []), f"{file}: solve"),
    )


class Catalog:
    def __init__(self, labs: list[Lab]):
        self.labs = sorted(labs, key=lambda lab: lab.number)

    @classmethod
    def load(cls, labs_dir: Path = LABS_DIR) -> "Catalog":
        folders = sorted(p for p in labs_dir.iterdir() if p.is_dir()) if labs_dir.is_dir() else []
        labs = [load_lab(folder) for folder in folders]
        seen: dict[int, Lab] = {}
        for lab in labs:
            if lab.number in seen:
                raise LabsError(f"{lab.path}: number {lab.number:02d} is also used by {seen[lab.number].path.name}")
            seen[lab.number] = lab
        return cls(labs)

    def resolve(self, ref: str) -> Lab:
        """A lab by slug ('ingress'), number ('7', '07') or folder name ('07-ingress')."""
        ref = (ref or "").strip().lower()
        for lab in self.labs:
            if ref in (lab.slug, lab.id) or (ref.isdigit() and int(ref) == lab.number):
                return lab
        names = [lab.slug for lab in self.labs]
        close = difflib.get_close_matches(ref, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise LabsError(
            f"unknown lab '{ref}'.{hint} Labs: {', '.join(names) or 'none'} (see `invoke lab list`)"
        )

    def select(self, ref: str) -> list[Lab]:
        """`all` or one lab."""
        return list(self.labs) if (ref or "").strip().lower() == "all" else [self.resolve(ref)]

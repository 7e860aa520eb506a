"""The classroom roster: who the students are, and the DNS-1123 name each one gets.

Two sources, one result (a list of `Student`, in a fixed order):
  - `--students=N`: student-01 .. student-N (zero-padded to the width of N, at least two digits);
  - `--roster=FILE.csv`: a header line, then one row per student. Columns: `name` (required),
    `email` and `group` (optional), in any order, case-insensitive. Comma, semicolon (the French
    spreadsheet default) or tab separated; UTF-8, with or without a byte-order mark.

Names become DNS-1123 labels (namespace names, host name labels, kind cluster names): accents
folded ("Élodie Martin" -> "elodie-martin"), anything else that is not a letter or digit becomes '-'.
Two students with the same label keep file order: the first keeps it, the next get -2, -3...; the
names the cluster already uses (default, the layers' namespaces) count as taken, and a name with
Kubernetes' or the labs' prefix becomes `student-kube-...`, `student-lab-...`.

Validation is all or nothing: the first bad row raises a LabsError naming the file, its line and the
problem (one line, with how many other rows are bad), before anything is created.

Plain Python only (csv, unicodedata, json): the CLI imports it before any Pulumi work.
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.errors import LabsError

MIN_STUDENTS, MAX_STUDENTS = 1, 500
ID_MAX = 40  # room for a suffix and for prefixed object names (hostnames: <lab>.<id>.<domain>)
COLUMNS = ("name", "email", "group")
NAME_MAX = 200
# Namespaces the cluster or the shared layers already use: a student never gets one of them.
RESERVED = frozenset({
    "default", "local-path-storage", "traefik", "monitoring", "logging", "alerting", "istio-system",
    "metallb-system", "kwok", "cluster-autoscaler", "csi-hostpath", "gateway-api", "cert-manager",
})
# Prefixes of namespaces that are not students': Kubernetes' own, and the labs' (lab-ingress...).
RESERVED_PREFIXES = ("kube-", "lab-")
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
VERSION = 1


@dataclass(frozen=True)
class Student:
    id: str  # DNS-1123 label: the namespace, the host name label, the kubeconfig folder
    name: str  # as written in the roster
    email: str = ""
    group: str = ""
    line: int = 0  # line of the roster file (0 for --students)

    @property
    def namespace(self) -> str:
        return self.id


def dns_label(text: str) -> str:
    """`text` folded to a DNS-1123 label (may be empty when nothing Latin is left)."""
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("æ", "ae").replace("œ", "oe")
                                   .replace("Æ", "ae").replace("Œ", "oe").replace("ø", "o").replace("Ø", "o")
                                   .replace("đ", "d").replace("Đ", "d").replace("ł", "l").replace("Ł", "l"))
    ascii_only = folded.encode("ascii", "ignore").decode().lower()
    label = _NOT_ALNUM.sub("-", ascii_only).strip("-")
    return label[:ID_MAX].rstrip("-")


def assign_ids(labels: list[str]) -> list[str]:
    """Unique ids in list order: the first of a label keeps it, the next get -2, -3, ...

    Reserved namespace names count as taken; a label with a reserved prefix (`kube-`, `lab-`) becomes
    `student-<label>`."""
    used: set[str] = set()
    ids = []
    for label in labels:
        if label.startswith(RESERVED_PREFIXES):
            label = f"student-{label}"
        candidate, n = label, 1
        while candidate in used or candidate in RESERVED:
            n += 1
            candidate = f"{label}-{n}"
        used.add(candidate)
        ids.append(candidate)
    return ids


def numbered(count: object) -> list[Student]:
    """`--students=N`: student-01 .. student-N."""
    try:
        n = int(str(count).strip())
    except ValueError:
        raise LabsError(f"--students must be a whole number, got '{count}' (e.g. --students=12)") from None
    _check_count(n, "--students")
    width = max(2, len(str(n)))
    return [Student(id=f"student-{i:0{width}d}", name=f"Student {i:0{width}d}") for i in range(1, n + 1)]


def _check_count(n: int, where: str) -> None:
    if not MIN_STUDENTS <= n <= MAX_STUDENTS:
        raise LabsError(f"{where}: a classroom has {MIN_STUDENTS} to {MAX_STUDENTS} students, got {n}")


def _dialect(header: str) -> str:
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_roster(file: Path | str) -> list[Student]:
    """Parse and validate a roster CSV; LabsError (one line: file, line, problem) on the first bad row."""
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LabsError(f"{path}: no such roster file (a CSV with a header line: name,email,group)") from None
    except UnicodeDecodeError:
        raise LabsError(f"{path}: not UTF-8 text: save the roster as CSV UTF-8") from None
    except OSError as exc:
        raise LabsError(f"{path}: cannot read the roster: {exc.strerror}") from None
    return parse_roster(text, str(path))


def parse_roster(text: str, source: str) -> list[Student]:
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise LabsError(f"{source}: empty roster: write a header line (name,email,group) and one row per student")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(lines[first]))
    header: list[str] | None = None
    rows: list[tuple[int, dict]] = []
    problems: list[tuple[int, str]] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in record]
                unknown = [cell for cell in header if cell not in COLUMNS]
                if unknown or "name" not in header or len(set(header)) != len(header):
                    raise LabsError(
                        f"{source} line {reader.line_num}: the header must name the columns "
                        f"name (required), email, group; got {','.join(header)}"
                    )
                continue
            if len(record) > len(header):
                problems.append((reader.line_num, f"{len(record)} fields for {len(header)} columns "
                                 "(quote a name that contains the separator)"))
                continue
            row = {column: (record[i].strip() if i < len(record) else "") for i, column in enumerate(header)}
            problem = _row_problem(row)
            if problem:
                problems.append((reader.line_num, problem))
            else:
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise LabsError(f"{source} line {reader.line_num}: not valid CSV ({exc})") from None
    if problems:
        line, problem = problems[0]
        more = f" ({len(problems) - 1} more bad row{'s' if len(problems) > 2 else ''} after it)" if len(problems) > 1 else ""
        raise LabsError(f"{source} line {line}: {problem}; fix the row and run again{more}")
    if not rows:
        raise LabsError(f"{source}: no student rows after the header line")
    _check_count(len(rows), source)
    ids = assign_ids([dns_label(row["name"]) for _, row in rows])
    return [Student(id=ident, name=row["name"], email=row.get("email", ""), group=row.get("group", ""), line=line)
            for ident, (line, row) in zip(ids, rows)]


def _row_problem(row: dict) -> str:
    name = row.get("name", "")
    if not name:
        return "empty name"
    if len(name) > NAME_MAX:
        return f"name longer than {NAME_MAX} characters"
    if not dns_label(name):
        return (f"name '{name}' has no Latin letter or digit to make a namespace name from: "
                "write it in Latin letters (e.g. a transliteration)")
    email = row.get("email", "")
    if email and not _EMAIL.match(email):
        return f"'{email}' is not an email address"
    return ""


def load_students(students: object = None, roster: str | None = None) -> list[Student]:
    """The classroom's students from exactly one of --students and --roster."""
    if (students is None) == (roster is None):
        raise LabsError("give the class as --students=N (student-01..N) or --roster=FILE.csv, not both")
    return numbered(students) if students is not None else read_roster(roster)


# --- the normalized roster the CLI writes in the session folder and the program reads -------------

def roster_document(students: list[Student], tenancy: str = "namespace") -> dict:
    return {
        "version": VERSION,
        "tenancy": tenancy,
        "students": [{key: value for key, value in asdict(s).items() if key != "line"} for s in students],
    }


def dump_roster(students: list[Student], tenancy: str = "namespace") -> str:
    return json.dumps(roster_document(students, tenancy), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def load_roster_json(file: Path | str) -> tuple[list[Student], str]:
    """The normalized roster (students, tenancy), validated again: the program trusts nothing it reads."""
    path = Path(file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabsError(f"{path}: the classroom roster is gone: run `invoke classroom up` again "
                        "or `invoke classroom down` to remove the classroom") from None
    except json.JSONDecodeError as exc:
        raise LabsError(f"{path}: not a roster written by `classroom up` ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("students"), list):
        raise LabsError(f"{path}: not a roster written by `classroom up` (version {VERSION})")
    students = [Student(**{key: str(item.get(key, "")) for key in ("id", "name", "email", "group")})
                for item in data["students"] if isinstance(item, dict)]
    ids = [s.id for s in students]
    bad = next((i for i in ids if not _DNS_LABEL.match(i)), None)
    if bad is not None or len(set(ids)) != len(ids) or len(ids) != len(data["students"]):
        raise LabsError(f"{path}: student ids must be unique DNS-1123 labels (got {bad!r}): run `classroom up` again")
    _check_count(len(students), str(path))
    tenancy = data.get("tenancy", "namespace")
    if tenancy not in ("namespace", "cluster"):
        raise LabsError(f"{path}: tenancy must be namespace or cluster, got {tenancy!r}")
    return students, tenancy

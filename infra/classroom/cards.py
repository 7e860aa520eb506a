"""Printable access cards: one HTML file (A4, two cards a page, French and English) and a CSV for the instructor.

Each card: the student's name, namespace, the API server, how to get the kubeconfig (a QR code of its
download URL when `classroom serve` serves it: an unguessable token per student), the Grafana URL with
the student's own Grafana login (once `classroom up` made it: a lab with monitoring), and the student's
own host names for the lab apps (`<app>.<student>.<base domain>`).

A card is a credential once it carries a download URL or a Grafana password: the files are written 0600 in the session's
classroom folder by default. Student names are escaped (they come from a roster).
"""
from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from infra.classroom.credentials import student_kubeconfig
from infra.classroom.grafana import PASSWORDS
from infra.classroom.objects import host_suffix
from infra.classroom.record import ClassroomRecord, classroom_dir, download_tokens, load_classroom, read_secrets
from infra.classroom.roster import Student
from infra.errors import LabsError
from infra.manifests import lab_hosts, student_hosts

DOWNLOAD_PATH = "/k/"  # + the student's token: what `classroom serve` answers

CSS = """
@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 9.5pt; margin: 0; color: #111; }
.page { break-after: page; page-break-after: always; }
.page:last-child { break-after: auto; page-break-after: auto; }
.card { height: 136mm; border: 1px dashed #888; padding: 6mm; display: flex; gap: 6mm; overflow: hidden;
        break-inside: avoid; page-break-inside: avoid; }
.card + .card { margin-top: 4mm; }
.main { flex: 1; min-width: 0; }
.qr { width: 44mm; text-align: center; font-size: 8pt; }
.qr svg { width: 44mm; height: 44mm; }
h1 { font-size: 15pt; margin: 0 0 2mm 0; }
h2 { font-size: 10.5pt; margin: 3mm 0 1mm 0; border-bottom: 1px solid #ccc; }
.lang { display: grid; grid-template-columns: 1fr 1fr; gap: 5mm; }
code, .url { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; word-break: break-all; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 0.5mm 3mm; margin: 0; }
dt { font-weight: bold; }
dd { margin: 0; }
@media screen { body { background: #eee; } .page { background: #fff; width: 210mm; margin: 5mm auto; padding: 10mm; } }
"""

TEXT = {
    "fr": {
        "title": "Votre accès au cluster", "namespace": "Namespace", "server": "Serveur d'API",
        "get": "Récupérer votre kubeconfig",
        "get_served": "Scannez le QR code, ou : <code>curl -o kubeconfig {url}</code>",
        "get_file": "Votre formateur vous remet le fichier <code>kubeconfig</code>.",
        "use": "Puis : <code>export KUBECONFIG=$PWD/kubeconfig</code> et <code>kubectl get pods</code>"
               " (votre namespace est celui par défaut).",
        "apps": "Vos applications", "grafana": "Grafana (partagé)", "lab": "Applications du lab",
        "grafana_login": "identifiant <code>{login}</code>, mot de passe <code>{password}</code>",
        "yours": "Vos noms d'hôte : <code>{host}</code> (un Ingress ailleurs est refusé).",
        "expires": "Accès valable jusqu'au {when}.", "qr": "kubeconfig",
    },
    "en": {
        "title": "Your cluster access", "namespace": "Namespace", "server": "API server",
        "get": "Get your kubeconfig",
        "get_served": "Scan the QR code, or: <code>curl -o kubeconfig {url}</code>",
        "get_file": "Your instructor hands you the <code>kubeconfig</code> file.",
        "use": "Then: <code>export KUBECONFIG=$PWD/kubeconfig</code> and <code>kubectl get pods</code>"
               " (your namespace is the default one).",
        "apps": "Your apps", "grafana": "Grafana (shared)", "lab": "Lab apps",
        "grafana_login": "login <code>{login}</code>, password <code>{password}</code>",
        "yours": "Your host names: <code>{host}</code> (an Ingress for any other is refused).",
        "expires": "Access valid until {when}.", "qr": "kubeconfig",
    },
}


def download_url(serve_url: str, token: str) -> str:
    return f"{serve_url.rstrip('/')}{DOWNLOAD_PATH}{token}"


def _web(host: str, port: int) -> str:
    return f"http://{host}{'' if port == 80 else f':{port}'}/"


def student_access(record: ClassroomRecord, student: Student) -> tuple[str, int]:
    """(API server, HTTP port) of the cluster the student works on."""
    for tenant in (record.tenants or {}).values():
        if student.id in tenant.get("students", []):
            return tenant.get("server", record.server), int(tenant.get("http_port", record.http_port))
    return record.server, record.http_port


def card_data(record: ClassroomRecord, students: list[Student], tokens: dict[str, str], lab,
              serve_url: str, grafana: dict[str, str] | None = None) -> list[dict]:
    """One row per student; `grafana`: their Grafana passwords (infra.classroom.grafana), when made."""
    grafana = grafana or {}
    hosts = lab_hosts(lab) if lab else []  # the lab's files, read once for the class
    rows = []
    for student in students:
        server, port = student_access(record, student)
        token = tokens.get(student.id, "")
        rows.append({
            "id": student.id, "name": student.name, "email": student.email, "group": student.group,
            "namespace": student.namespace, "server": server,
            "download_url": download_url(serve_url, token) if serve_url and token else "",
            "grafana_url": _web(f"grafana.{record.base_domain}", port),
            "grafana_login": student.id if student.id in grafana else "",
            "grafana_password": grafana.get(student.id, ""),
            # The host names the lab's own routes use, made the student's (lab 07: blue, green, apps...).
            "lab_urls": [_web(host, port) for host in student_hosts(lab, student.id, record.base_domain, hosts)]
                        if lab else [],
            "host_pattern": f"*.{host_suffix(student.id, record.base_domain)}",
        })
    return rows


def _qr_svg(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=4, border=2)


def _card(row: dict, expires: str) -> str:
    e = html.escape
    sides = []
    for lang in ("fr", "en"):
        t = TEXT[lang]
        get = t["get_served"].format(url=e(row["download_url"])) if row["download_url"] else t["get_file"]
        apps = [f'<dt>{t["grafana"]}</dt><dd class="url">{e(row["grafana_url"])}</dd>']
        if row["grafana_login"]:
            login = t["grafana_login"].format(login=e(row["grafana_login"]), password=e(row["grafana_password"]))
            apps.append(f"<dt></dt><dd>{login}</dd>")
        if row["lab_urls"]:
            urls = "<br>".join(e(url) for url in row["lab_urls"])
            apps.append(f'<dt>{t["lab"]}</dt><dd class="url">{urls}</dd>')
        sides.append(
            f'<section lang="{lang}"><h2>{t["title"]}</h2>'
            f'<dl><dt>{t["namespace"]}</dt><dd><code>{e(row["namespace"])}</code></dd>'
            f'<dt>{t["server"]}</dt><dd class="url">{e(row["server"])}</dd></dl>'
            f'<h2>{t["get"]}</h2><p>{get}</p><p>{t["use"]}</p>'
            f'<h2>{t["apps"]}</h2><dl>{"".join(apps)}</dl>'
            f'<p>{t["yours"].format(host=e(row["host_pattern"]))}</p>'
            + (f'<p>{t["expires"].format(when=e(expires))}</p>' if expires else "")
            + "</section>"
        )
    qr = (f'<div class="qr">{_qr_svg(row["download_url"])}<div>{TEXT["fr"]["qr"]}</div></div>'
          if row["download_url"] else "")
    return (f'<article class="card" data-student="{e(row["id"])}"><div class="main">'
            f'<h1 class="student-name">{e(row["name"])}</h1><div class="lang">{"".join(sides)}</div></div>{qr}</article>')


def _when(iso: str) -> str:
    from datetime import datetime, timezone

    try:
        return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return iso


def cards_html(rows: list[dict], session: str, expires: str) -> str:
    expires = _when(expires) if expires else ""
    pages = ["".join(_card(row, expires) for row in rows[i:i + 2]) for i in range(0, len(rows), 2)]
    body = "".join(f'<div class="page">{page}</div>' for page in pages)
    return (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
            f'<title>k8s-labs · {html.escape(session)} · cartes d\'accès / access cards</title>'
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")


def cards_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    columns = ["id", "name", "email", "group", "namespace", "server", "kubeconfig", "download_url", "lab_urls", "grafana_login",
               "grafana_password"]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "lab_urls": " ".join(row["lab_urls"])})
    return buffer.getvalue()


def write_cards(session: str, output: str | None = None, serve_url: str | None = None,
                lab_ref: str | None = None) -> tuple[Path, Path]:
    """Write the cards (HTML) and the instructor's CSV; returns their paths."""
    from infra.paths import write_private

    record, students = load_classroom(session)
    if serve_url is not None:
        if not serve_url.startswith(("http://", "https://")):
            raise LabsError(f"--serve-url must be a URL such as http://192.168.1.10:8765, got '{serve_url}'")
        record.serve_url = serve_url.rstrip("/")
        record.save()
    lab = None
    if lab_ref or record.lab:
        from infra.catalog import Catalog

        lab = Catalog.load().resolve(lab_ref or record.lab)
    rows = card_data(record, students, download_tokens(session), lab, record.serve_url,
                     read_secrets(session, PASSWORDS))
    for row in rows:
        row["kubeconfig"] = str(student_kubeconfig(session, row["id"]))
    html_file = Path(output) if output else classroom_dir(session) / "cards.html"
    csv_file = html_file.with_suffix(".csv")
    write_private(html_file, cards_html(rows, session, record.expires_at))
    write_private(csv_file, cards_csv(rows))
    from infra.commands import console

    served = ("with QR codes for " + record.serve_url) if record.serve_url else \
        "without QR codes (run `invoke classroom serve` or pass --serve-url to add them)"
    console.print(f"{len(rows)} cards {served}: {html_file} (print it: A4, two cards a page); "
                  f"instructor's list: {csv_file}")
    return html_file, csv_file

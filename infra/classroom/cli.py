"""`invoke classroom up|render|down|cards|serve|status`: the actions' description and argument parsing
(tasks.py adds this collection; infra.cli builds its tasks, help and option checks, as for `lab`).

Importing this module costs nothing beyond invoke: each task imports `infra.classroom.commands` when it runs.
"""
from __future__ import annotations

from invoke import Collection

from infra.cli import Action, Group, group_collection

HELP = {
    "students": "number of students: student-01 .. student-N (1-500); or give --roster",
    "roster": "CSV roster with a header: name (required), email, group; comma, semicolon or tab separated",
    "target": "where the cluster runs: kind (default), gke, eks or aks",
    "session": "teaching session name (default: default)",
    "tenancy": "namespace (default: a namespace per student on one cluster) or cluster (a cluster per student)",
    "lab": "lab slug or number the classroom works on (up: default, the stack's current lab; given, its starting "
           "point goes into each student's namespace that does not have it yet)",
    "format": "render output: json or yaml",
    "server": "API server address written in students' kubeconfigs (default: the cluster's; e.g. a LAN address)",
    "api_server_address": "kind: this machine's LAN address (e.g. 192.168.1.10) for the API server to listen on, so "
                          "students reach the cluster from their own machines (set it when the session starts: "
                          "changing it recreates the cluster)",
    "base_domain": "domain of the web UIs and lab apps (<app>.<student>.<domain>; default: localhost on kind, "
                   "<LAN address>.sslip.io with --api-server-address, the stack's on clouds)",
    "yes": "cloud targets: accept the cost estimate without asking",
    "group_size": "cluster tenancy: students per cluster (default 1)",
    "parallel": "up: clusters created at once in cluster tenancy (default 2 on kind, 4 on clouds), and with --lab "
                "students' starting points applied at once (default 8); status: students checked at once",
    "hours": "hours the session (and the students' tokens) lasts, from its first up (default 8)",
    "workers": "worker nodes of the (each) cluster",
    "http_port": "host port for HTTP into the ingress controller (cluster tenancy on kind: the first cluster's)",
    "https_port": "host port for HTTPS into the ingress controller",
    "output": "cards: the HTML file to write (default: <session folder>/classroom/cards.html, 0600)",
    "serve_url": "cards: base URL of `classroom serve` (e.g. http://192.168.1.10:8765) for the QR codes",
    "address": "serve: the address to listen on (your LAN address; 0.0.0.0 listens everywhere, with a warning)",
    "port": "serve: the port to listen on (default 8765)",
    "html": "status: also write a self-refreshing HTML board to this file (for the projector)",
    "watch": "status: run the checks again every N seconds until Ctrl-C (0: once)",
    "lang": "language of hints and cards: fr or en",
}


def _commands():
    from infra.classroom import commands

    return commands


def _settings(target, session, workers=None, http_port=None, https_port=None, hours=None, api_server_address=None,
              base_domain=None):
    from infra import commands

    return commands.stack_settings(target=target, session=session, workers=workers, httpPort=http_port,
                                   httpsPort=https_port, expiresHours=hours, apiServerAddress=api_server_address,
                                   baseDomain=base_domain)


def _whole(value, name: str, low: int = 1):
    from infra.errors import LabsError

    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise LabsError(f"--{name.replace('_', '-')} must be a whole number, got '{value}'") from None
    if number < low:
        raise LabsError(f"--{name.replace('_', '-')} must be {low} or more, got {number}")
    return number


ACTIONS = (
    Action("up", "Prepare the class: per student a namespace (or a cluster), rights, quota, policies, a kubeconfig.",
           "--roster=class.csv --lab=ingress",
           {"students": None, "roster": None, "target": "kind", "session": "default", "tenancy": "namespace",
            "lab": None, "server": None, "yes": False, "group_size": 1, "parallel": None, "hours": None,
            "workers": None, "http_port": None, "https_port": None, "api_server_address": None, "base_domain": None}),
    Action("render", "Print what `classroom up` would register, with the students beside the objects; offline.",
           "--students=3 --lab=ingress --format=yaml",
           {"students": None, "roster": None, "target": "kind", "session": "default", "tenancy": "namespace",
            "lab": None, "format": "json", "group_size": 1, "api_server_address": None, "base_domain": None}),
    Action("down", "Remove the classroom (students' namespaces or clusters, kubeconfigs); the cluster stays.",
           "--session=monday", {"session": "default"}),
    Action("cards", "Write printable access cards (A4, French and English, one per student) and a CSV for you.",
           "--serve-url=http://192.168.1.10:8765", {"session": "default", "output": None, "serve_url": None,
                                                    "lab": None}),
    Action("serve", "Serve each student's kubeconfig at an unguessable URL (the cards' QR codes) until Ctrl-C.",
           "--address=192.168.1.10", {"session": "default", "address": None, "port": 8765}),
    Action("status", "Run the lab's checks for every student; print a students x checks board (and an HTML one).",
           "--html=board.html --watch=30", {"session": "default", "lab": None, "html": None, "watch": 0,
                                            "lang": "fr", "parallel": None}),
)
CLASSROOM = Group("classroom", "Classrooms: a namespace (or a cluster) per student, their access cards, a board.",
                  HELP, ACTIONS)


def _up(o):
    settings = _settings(o.target, o.session, o.workers, o.http_port, o.https_port, o.hours, o.api_server_address,
                         o.base_domain)
    _commands().classroom_up(settings, o.students, o.roster, o.lab, o.tenancy, o.server, o.yes,
                             _whole(o.group_size, "group_size"), _whole(o.parallel, "parallel"))


def _render(o):
    settings = _settings(o.target, o.session, api_server_address=o.api_server_address, base_domain=o.base_domain)
    print(_commands().classroom_render(settings, o.students, o.roster, o.lab, o.tenancy, o.format,
                                       _whole(o.group_size, "group_size")))


def _down(o):
    _commands().classroom_down(o.session)


def _cards(o):
    from infra.classroom.cards import write_cards

    write_cards(o.session, o.output, o.serve_url, o.lab)


def _serve(o):
    from infra.classroom.serve import serve_kubeconfigs

    serve_kubeconfigs(o.session, o.address, _whole(o.port, "port"))


def _status(o):
    from infra.classroom.board import classroom_status

    classroom_status(o.session, o.lab, o.html, _whole(o.watch, "watch", low=0), o.lang, _whole(o.parallel, "parallel"))


def classroom_collection() -> Collection:
    """`invoke classroom <action>` and `invoke classroom.<action>`, from the one description above."""
    return group_collection(CLASSROOM, {"up": _up, "render": _render, "down": _down, "cards": _cards,
                                        "serve": _serve, "status": _status})

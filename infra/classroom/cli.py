"""`invoke classroom up|render|down|cards|serve|status`: argument parsing only (tasks.py adds this collection).

`tasks.py` passes its `user_errors` decorator in (LabsError -> one line, exit 1), so the classroom tasks
behave like the lab ones. Importing this module costs nothing beyond invoke: each task imports
`infra.classroom.commands` when it runs.
"""
from __future__ import annotations

import inspect

from invoke import Collection, Exit, task

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
ACTIONS = ("up", "render", "down", "cards", "serve", "status")


def _helps(*names: str) -> dict:
    return {name: HELP[name] for name in names}


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


def classroom_collection(user_errors) -> Collection:
    @task(help=_helps("students", "roster", "target", "session", "tenancy", "lab", "server", "yes", "group_size",
                      "parallel", "hours", "workers", "http_port", "https_port", "api_server_address", "base_domain"))
    @user_errors
    def up(c, students=None, roster=None, target="kind", session="default", tenancy="namespace", lab=None,
           server=None, yes=False, group_size=1, parallel=None, hours=None, workers=None, http_port=None,
           https_port=None, api_server_address=None, base_domain=None):
        """Prepare the class: per student a namespace (or a cluster), rights, quota, policies, a kubeconfig."""
        settings = _settings(target, session, workers, http_port, https_port, hours, api_server_address, base_domain)
        _commands().classroom_up(settings, students, roster, lab, tenancy, server, yes,
                                 _whole(group_size, "group_size"), _whole(parallel, "parallel"))

    @task(help=_helps("students", "roster", "target", "session", "tenancy", "lab", "format", "group_size",
                      "api_server_address", "base_domain"))
    @user_errors
    def render(c, students=None, roster=None, target="kind", session="default", tenancy="namespace", lab=None,
               format="json", group_size=1, api_server_address=None, base_domain=None):
        """Print what `classroom up` would register, with the students beside the objects; offline."""
        settings = _settings(target, session, api_server_address=api_server_address, base_domain=base_domain)
        print(_commands().classroom_render(settings, students, roster, lab, tenancy, format,
                                           _whole(group_size, "group_size")))

    @task(help=_helps("session"))
    @user_errors
    def down(c, session="default"):
        """Remove the classroom (students' namespaces or clusters, kubeconfigs); the cluster stays."""
        _commands().classroom_down(session)

    @task(help=_helps("session", "output", "serve_url", "lab"))
    @user_errors
    def cards(c, session="default", output=None, serve_url=None, lab=None):
        """Write printable access cards (A4, French and English, one per student) and a CSV for you."""
        from infra.classroom.cards import write_cards

        write_cards(session, output, serve_url, lab)

    @task(help=_helps("session", "address", "port"))
    @user_errors
    def serve(c, session="default", address=None, port=8765):
        """Serve each student's kubeconfig at an unguessable URL (the cards' QR codes) until Ctrl-C."""
        from infra.classroom.serve import serve_kubeconfigs

        serve_kubeconfigs(session, address, _whole(port, "port"))

    @task(help=_helps("session", "lab", "html", "watch", "lang", "parallel"))
    @user_errors
    def status(c, session="default", lab=None, html=None, watch=0, lang="fr", parallel=None):
        """Run the lab's checks for every student; print a students x checks board (and an HTML one)."""
        from infra.classroom.board import classroom_status

        classroom_status(session, lab, html, _whole(watch, "watch", low=0), lang, _whole(parallel, "parallel"))

    bodies = {"up": up, "render": render, "down": down, "cards": cards, "serve": serve, "status": status}

    @task(positional=["action"], help={"action": " | ".join(ACTIONS), **HELP})
    def action(c, action, students=None, roster=None, target=None, session=None, tenancy=None, lab=None,
               format=None, server=None, yes=False, group_size=None, parallel=None, hours=None, workers=None,
               http_port=None, https_port=None, output=None, serve_url=None, address=None, port=None, html=None,
               watch=None, lang=None, api_server_address=None, base_domain=None):
        """`invoke classroom <action> ...`: the same as `invoke classroom.<action> ...`."""
        if action not in bodies:
            raise Exit(f"error: unknown action '{action}': use one of {', '.join(ACTIONS)}", code=1)
        given = dict(students=students, roster=roster, target=target, session=session, tenancy=tenancy, lab=lab,
                     format=format, server=server, yes=yes or None, group_size=group_size, parallel=parallel,
                     hours=hours, workers=workers, http_port=http_port, https_port=https_port, output=output,
                     serve_url=serve_url, address=address, port=port, html=html, watch=watch, lang=lang,
                     api_server_address=api_server_address, base_domain=base_domain)
        body = bodies[action]
        accepted = inspect.signature(body.body).parameters
        unused = sorted(name for name, value in given.items() if value is not None and name not in accepted)
        if unused:
            raise Exit(f"error: `classroom {action}` takes no --{unused[0].replace('_', '-')}", code=1)
        body(c, **{name: value for name, value in given.items() if value is not None})

    collection = Collection("classroom")
    collection.add_task(action, name="action", default=True)
    for name, body in bodies.items():
        collection.add_task(body, name=name)
    return collection

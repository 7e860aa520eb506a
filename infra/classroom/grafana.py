"""Each student's own Grafana login, in a namespace-tenancy classroom whose lab uses monitoring.

Grafana is shared (the monitoring layer's, one per cluster) and its admin password lives in the
`monitoring` namespace, which students cannot read. So `classroom up` makes one Grafana user per
student: login = the student's id, organisation role Editor (Explore for PromQL and LogQL, their own
dashboards; not data sources, users or server settings), a random password kept across runs in
`classroom/grafana.json` (0600) and printed only on that student's card.

How it reaches Grafana: `kubectl port-forward` to the Grafana Service with the session's admin
kubeconfig, then Grafana's HTTP API as `admin` with Basic authentication, the only kind its admin API
accepts. Not the API server's service proxy: the API server drops the Authorization header once it
has authenticated the caller, so Basic credentials never reach Grafana that way. The admin password
is read from its Secret with kubectl and never printed.

Grafana API used: GET /api/users/lookup?loginOrEmail=, POST /api/admin/users,
PUT /api/admin/users/<id>/password, PATCH /api/org/users/<id> (the admin's organisation: Main Org.).
"""
from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager

from infra.classroom.roster import Student
from infra.errors import LabsError
from infra.toolchain import require_tool

PASSWORDS = "grafana.json"
STUDENT_ROLE = "Editor"
PORT_FORWARD_TIMEOUT_S = 30
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


def uses_grafana(lab) -> bool:
    """A lab whose layers bring Grafana (monitoring, and what requires it: alerting, logging, mesh)."""
    return lab is not None and "monitoring" in lab.layer_closure()


class GrafanaAdmin:
    """Grafana's HTTP API as its admin (Basic authentication)."""

    def __init__(self, base_url: str, password: str, user: str = "admin"):
        self.base_url = base_url.rstrip("/")
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def _call(self, method: str, path: str, body: dict | None = None):
        """(status, decoded JSON) of one API call; LabsError when Grafana does not answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method,
                                         headers={"Authorization": self._auth, "Content-Type": "application/json",
                                                  "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise LabsError("Grafana refused the admin password of the Secret monitoring/grafana-admin "
                                "(changed in Grafana by hand?): set it back, then run `classroom up` again") from None
            return exc.code, {}
        except (urllib.error.URLError, OSError) as exc:
            raise LabsError(f"Grafana did not answer on {self.base_url} ({exc}): is the monitoring layer up? "
                            "Run `classroom up` again once its pods are ready") from None

    def _expect(self, what: str, status: int, answer: dict) -> dict:
        if status != 200:
            raise LabsError(f"Grafana: {what} answered {status} {answer.get('message', '')}".rstrip())
        return answer

    def ensure_user(self, login: str, name: str, email: str, password: str, role: str = STUDENT_ROLE) -> int:
        """The user with this login, created or given this password, with `role` in the admin's
        organisation; returns its id. Running it again changes nothing but what differs."""
        query = urllib.parse.urlencode({"loginOrEmail": login})
        status, found = self._call("GET", f"/api/users/lookup?{query}")
        if status == 200:
            user_id = found["id"]
            self._expect(f"password of {login}", *self._call("PUT", f"/api/admin/users/{user_id}/password",
                                                              {"password": password}))
        elif status == 404:
            created = self._expect(f"creating {login}", *self._call("POST", "/api/admin/users", {
                "name": name, "login": login, "email": email or f"{login}@students.invalid", "password": password}))
            user_id = created["id"]
        else:
            raise LabsError(f"Grafana: looking up {login} answered {status}")
        self._expect(f"role of {login}", *self._call("PATCH", f"/api/org/users/{user_id}", {"role": role}))
        return user_id


@contextmanager
def port_forward(kubectl: str, kubeconfig: str | None, context: str | None, namespace: str, service: str,
                 port: int):
    """`kubectl port-forward svc/<service>` on a free local port; yields http://127.0.0.1:<port>."""
    argv = [kubectl, *(["--kubeconfig", kubeconfig] if kubeconfig else []), *(["--context", context] if context else []),
            "-n", namespace, "port-forward", f"svc/{service}", f":{port}", "--address", "127.0.0.1"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + PORT_FORWARD_TIMEOUT_S
        while True:
            line = process.stdout.readline()
            found = _FORWARDING.search(line or "")
            if found:
                break
            if not line or time.monotonic() > deadline:
                process.kill()
                error = (process.stderr.read() or "no output").strip().splitlines()
                raise LabsError(f"`kubectl port-forward svc/{service}` in {namespace} failed: {error[-1]}; "
                                "is the monitoring layer up?")
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def admin_password(kubeconfig: str | None, context: str | None) -> str:
    """Grafana's admin password, from the monitoring layer's Secret (never printed)."""
    from infra.commands import kubectl
    from infra.layers.monitoring import GRAFANA_ADMIN_PASSWORD_KEY, GRAFANA_ADMIN_SECRET, NAMESPACE

    done = kubectl(["-n", NAMESPACE, "get", "secret", GRAFANA_ADMIN_SECRET, "-o",
                    f"jsonpath={{.data.{GRAFANA_ADMIN_PASSWORD_KEY}}}"], kubeconfig, context)
    return base64.b64decode(done.stdout.strip()).decode()


def grafana_accounts(session: str, students: list[Student], kubeconfig: str | None,
                     context: str | None = None) -> dict[str, str]:
    """Each student's Grafana user, made or refreshed; returns {student id: password} (kept 0600)."""
    from infra.classroom.record import kept_secrets
    from infra.layers.monitoring import GRAFANA_PORT, GRAFANA_SERVICE, NAMESPACE

    passwords = kept_secrets(session, PASSWORDS, students, 12)
    password = admin_password(kubeconfig, context)
    with port_forward(require_tool("kubectl"), kubeconfig, context, NAMESPACE, GRAFANA_SERVICE,
                      GRAFANA_PORT) as url:
        grafana = GrafanaAdmin(url, password)
        for student in students:
            grafana.ensure_user(student.id, student.name, student.email, passwords[student.id])
    return passwords

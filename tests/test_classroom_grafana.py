"""Each student's own Grafana login: the Grafana API calls, kubectl port-forward, `classroom up` and the cards."""
from __future__ import annotations

import csv
import json
import os
import stat
import sys

import pytest

from infra import paths
from infra.classroom.grafana import PASSWORDS, GrafanaAdmin, port_forward
from infra.errors import LabsError
from tests.classroom_helpers import FakeGrafana, classroom_driver, fake_cluster, fake_grafana  # noqa: F401 (fixtures)
from tests.test_cli import invoke


@pytest.fixture
def grafana():
    fake = FakeGrafana()
    yield fake
    fake.close()


def test_a_user_is_created_once_with_the_editor_role_and_its_password_follows(grafana):
    admin = GrafanaAdmin(grafana.url, FakeGrafana.ADMIN_PASSWORD)
    first = admin.ensure_user("anne", "Anne", "", "pw-1")
    again = admin.ensure_user("anne", "Anne", "", "pw-2")
    assert first == again
    user = grafana.user("anne")
    assert (user["role"], user["password"], user["email"]) == ("Editor", "pw-2", "anne@students.invalid")
    assert [u["login"] for u in grafana.users.values()] == ["admin", "anne"]
    assert grafana.requests.count(("POST", "/api/admin/users")) == 1


def test_a_wrong_admin_password_or_no_grafana_is_one_clear_error(grafana):
    with pytest.raises(LabsError, match="refused the admin password of the Secret monitoring/grafana-admin"):
        GrafanaAdmin(grafana.url, "not-it").ensure_user("anne", "Anne", "", "pw")
    url = grafana.url
    grafana.close()
    with pytest.raises(LabsError, match="Grafana did not answer .* is the monitoring layer up"):
        GrafanaAdmin(url, FakeGrafana.ADMIN_PASSWORD).ensure_user("anne", "Anne", "", "pw")


def _fake_kubectl(tmp_path, script: str) -> str:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f"#!{sys.executable}\nimport sys, time\nopen({str(tmp_path / 'argv')!r}, 'w').write("
                       f"' '.join(sys.argv[1:]))\n{script}\n")
    kubectl.chmod(0o755)
    return str(kubectl)


def test_port_forward_reads_the_local_port_kubectl_chose_and_stops_it(tmp_path):
    kubectl = _fake_kubectl(tmp_path, "print('Forwarding from 127.0.0.1:41234 -> 3000', flush=True)\n"
                                      "print('Forwarding from [::1]:41234 -> 3000', flush=True)\ntime.sleep(60)")
    with port_forward(kubectl, "/k/config", None, "monitoring", "kube-prometheus-stack-grafana", 80) as url:
        assert url == "http://127.0.0.1:41234"
    argv = (tmp_path / "argv").read_text()
    assert argv == ("--kubeconfig /k/config -n monitoring port-forward svc/kube-prometheus-stack-grafana :80 "
                    "--address 127.0.0.1")


def test_port_forward_that_fails_says_why(tmp_path):
    kubectl = _fake_kubectl(tmp_path, "print('error: services \"kube-prometheus-stack-grafana\" not found', "
                                      "file=sys.stderr)\nsys.exit(1)")
    with pytest.raises(LabsError, match='failed: error: services "kube-prometheus-stack-grafana" not found; '
                                        "is the monitoring layer up"):
        with port_forward(kubectl, None, None, "monitoring", "kube-prometheus-stack-grafana", 80):
            pass


def _passwords(session="default") -> dict:
    file = paths.session_dir(session) / "classroom" / PASSWORDS
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    return json.loads(file.read_text())


def test_classroom_up_on_a_monitoring_lab_gives_each_student_a_grafana_login(classroom_driver, fake_grafana, capsys):
    invoke("classroom", "up", "--students=2", "--lab=monitoring")
    passwords = _passwords()
    assert set(passwords) == {"student-01", "student-02"} and len(set(passwords.values())) == 2
    for sid, password in passwords.items():
        assert fake_grafana.user(sid)["password"] == password and fake_grafana.user(sid)["role"] == "Editor"
    assert all(pw not in capsys.readouterr().err for pw in passwords.values())  # never printed
    invoke("classroom", "up", "--students=2", "--lab=monitoring")
    assert _passwords() == passwords  # printed cards stay valid

    invoke("classroom", "cards")
    cards = paths.session_dir("default") / "classroom" / "cards.html"
    text = cards.read_text()
    for sid, password in passwords.items():
        assert f"login <code>{sid}</code>, password <code>{password}</code>" in text
        assert f"identifiant <code>{sid}</code>, mot de passe <code>{password}</code>" in text
    rows = list(csv.DictReader(cards.with_suffix(".csv").open()))
    assert {row["grafana_login"]: row["grafana_password"] for row in rows} == passwords


def test_a_lab_without_monitoring_makes_no_grafana_login(classroom_driver, fake_grafana):
    invoke("classroom", "up", "--students=2", "--lab=ingress")
    assert [u["login"] for u in fake_grafana.users.values()] == ["admin"]
    assert not (paths.session_dir("default") / "classroom" / PASSWORDS).exists()
    invoke("classroom", "cards")
    assert "password <code>" not in (paths.session_dir("default") / "classroom" / "cards.html").read_text()

"""Access cards (HTML opened in headless Chromium, CSV) and the kubeconfig download server."""
from __future__ import annotations

import csv
import os
import re
import shutil
import stat
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
import yaml

from infra import paths
from infra.classroom.record import download_tokens, load_record
from infra.classroom.credentials import student_kubeconfig
from infra.errors import LabsError
from tests.classroom_helpers import classroom_driver, fake_cluster, fake_grafana  # noqa: F401 (fixtures)
from tests.test_cli import invoke

ROSTER = 'name,email,group\nÉlodie Martin,e@x.fr,A\nPaul <b>Durand</b>,p@x.fr,A\n"Zoë O\'Brien, Jr",,B\nAnne,,B\nLéo,,C\n'
NAMES = ["Élodie Martin", "Paul <b>Durand</b>", "Zoë O'Brien, Jr", "Anne", "Léo"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def classroom(classroom_driver, tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text(ROSTER)
    invoke("classroom", "up", f"--roster={roster}", "--lab=ingress")
    return load_record("default")


def test_cards_and_csv_are_private_and_list_every_student(classroom, capsys):
    invoke("classroom", "cards", "--serve-url=http://10.0.0.5:8765")
    html_file = paths.session_dir("default") / "classroom" / "cards.html"
    csv_file = html_file.with_suffix(".csv")
    for file in (html_file, csv_file):
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    rows = list(csv.DictReader(csv_file.open()))
    tokens = download_tokens("default")
    assert [row["name"] for row in rows] == NAMES
    assert [row["id"] for row in rows] == ["elodie-martin", "paul-b-durand-b", "zoe-o-brien-jr", "anne", "leo"]
    assert rows[0]["download_url"] == f"http://10.0.0.5:8765/k/{tokens['elodie-martin']}"
    # The lab's own host names (lab 07 routes blue, green, apps... .localhost), made the student's.
    assert rows[0]["lab_urls"].split() == [f"http://{app}.elodie-martin.localhost/"
                                           for app in ("apps", "blue", "canary", "green", "gw")]
    assert rows[0]["kubeconfig"] == str(student_kubeconfig("default", "elodie-martin"))
    text = html_file.read_text()
    assert "Paul &lt;b&gt;Durand&lt;/b&gt;" in text and "<b>Durand</b>" not in text
    assert "@page { size: A4" in text and "break-after: page" in text
    assert 'lang="fr"' in text and 'lang="en"' in text and "Votre accès au cluster" in text
    assert text.count("<svg") == 5  # one QR code per student
    assert load_record("default").serve_url == "http://10.0.0.5:8765"
    assert "5 cards with QR codes" in capsys.readouterr().err


def test_without_a_serve_url_cards_say_the_instructor_hands_the_file(classroom):
    invoke("classroom", "cards")
    text = (paths.session_dir("default") / "classroom" / "cards.html").read_text()
    assert "<svg" not in text and "Your instructor hands you" in text


def test_a_bad_serve_url_is_refused(classroom, capsys):
    with pytest.raises(SystemExit):
        invoke("classroom", "cards", "--serve-url=10.0.0.5:8765")
    assert "--serve-url must be a URL such as http://" in capsys.readouterr().err


@pytest.mark.skipif(chromium() is None, reason="chromium not installed (.ci/run installs it)")
def test_chromium_renders_one_card_per_student_two_per_a4_page(classroom, tmp_path):
    invoke("classroom", "cards", "--serve-url=http://10.0.0.5:8765", f"--output={tmp_path / 'cards.html'}")
    url = (tmp_path / "cards.html").as_uri()
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    cards = re.findall(r'<article class="card" data-student="([^"]+)">', dom)
    assert cards == ["elodie-martin", "paul-b-durand-b", "zoe-o-brien-jr", "anne", "leo"]
    shown = [name.replace("&lt;", "<").replace("&gt;", ">") for name in re.findall(r'<h1 class="student-name">([^<]*(?:&lt;[^<]*)*)</h1>', dom)]
    assert shown == NAMES
    assert dom.count("<svg") == 5
    pdf = tmp_path / "cards.pdf"
    subprocess.run([*browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", url], capture_output=True, timeout=120)
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes())
    assert len(pages) == 3  # 5 cards, two per A4 page


@pytest.fixture
def served(classroom):
    """`classroom serve` of the default session running on a free port: (base URL, lines it logged)."""
    from infra.classroom.serve import make_server

    logged = []
    server, url = make_server("default", "127.0.0.1", 0, log=logged.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url, logged
    server.shutdown()
    server.server_close()


def test_serve_answers_each_students_token_and_nothing_else(served):
    url, logged = served
    token = download_tokens("default")["anne"]
    with urllib.request.urlopen(f"{url}/k/{token}", timeout=5) as answer:
        assert answer.headers["Cache-Control"] == "no-store"
        config = yaml.safe_load(answer.read())
    assert config["contexts"][0]["context"]["namespace"] == "anne"
    assert config["users"][0]["user"]["token"] == "token-of-anne-student"
    for path in (f"/k/{token[:-1]}", "/k/", "/students/anne/kubeconfig", f"/k/{token}/../x"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}{path}", timeout=5)
        assert refused.value.code == 404
    assert logged == ["anne: kubeconfig downloaded from 127.0.0.1"] and token not in "".join(logged)


def test_serve_answers_head_like_get_without_a_body_and_refuses_other_methods(served):
    url, logged = served
    token = download_tokens("default")["anne"]
    with urllib.request.urlopen(f"{url}/k/{token}", timeout=5) as answer:
        length = int(answer.headers["Content-Length"])
    head = urllib.request.Request(f"{url}/k/{token}", method="HEAD")
    with urllib.request.urlopen(head, timeout=5) as answer:
        assert answer.status == 200 and int(answer.headers["Content-Length"]) == length > 0
        assert answer.headers["Content-Type"] == "application/yaml" and answer.read() == b""
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(urllib.request.Request(f"{url}/k/nope", method="HEAD"), timeout=5)
    assert missing.value.code == 404
    for method in ("POST", "PUT", "DELETE"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{url}/k/{token}", data=b"x", method=method), timeout=5)
        assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET, HEAD"
    assert logged == ["anne: kubeconfig downloaded from 127.0.0.1"]  # the GET only


def test_serve_on_every_interface_gives_a_lan_url_and_a_bad_address_is_refused(classroom):
    from infra.classroom.serve import make_server

    server, url = make_server("default", "0.0.0.0", 0)
    server.server_close()
    assert re.fullmatch(r"http://\d+\.\d+\.\d+\.\d+:\d+", url) and not url.startswith("http://0.0.0.0")
    with pytest.raises(LabsError, match="--address must be an IP address"):
        make_server("default", "my-laptop", 0)


def test_serve_answers_a_late_joiner_added_while_it_runs(served, tmp_path):
    """`classroom up` again with one more student while the server runs: their card's QR code works
    without restarting the server."""
    url, _ = served
    roster = tmp_path / "later.csv"
    roster.write_text(ROSTER + "Nadia,,C\n")
    invoke("classroom", "up", f"--roster={roster}", "--lab=ingress")
    token = download_tokens("default")["nadia"]
    with urllib.request.urlopen(f"{url}/k/{token}", timeout=5) as answer:
        assert yaml.safe_load(answer.read())["contexts"][0]["context"]["namespace"] == "nadia"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/k/{token[:-1]}", timeout=5)
    assert refused.value.code == 404

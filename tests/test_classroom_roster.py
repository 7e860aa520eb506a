"""The classroom roster: --students=N, CSV rosters, DNS-1123 ids, collisions, bad rows."""
from __future__ import annotations

import json

import pytest

from infra.classroom.roster import (
    MAX_STUDENTS, dns_label, dump_roster, load_roster_json, load_students, numbered, parse_roster, read_roster,
)
from infra.errors import LabsError


def test_numbered_students_are_zero_padded_to_the_width_of_n():
    assert [s.id for s in numbered(3)] == ["student-01", "student-02", "student-03"]
    ids = [s.id for s in numbered(120)]
    assert ids[0] == "student-001" and ids[-1] == "student-120" and len(set(ids)) == 120


@pytest.mark.parametrize("count, message", [(0, "1 to 500 students, got 0"), (501, "got 501"),
                                            ("many", "--students must be a whole number")])
def test_student_count_is_bounded(count, message):
    with pytest.raises(LabsError, match=message):
        numbered(count)


@pytest.mark.parametrize("name, label", [
    ("Élodie Martin", "elodie-martin"),
    ("  José-María   Núñez ", "jose-maria-nunez"),
    ("Zoë O'Brien", "zoe-o-brien"),
    ("Søren Ærø", "soren-aero"),
    ("Jürgen Groß", "jurgen-gross"),
    ("Łukasz Wałęsa", "lukasz-walesa"),
    ("ANNE_42", "anne-42"),
    ("x" * 80, "x" * 40),
])
def test_names_fold_to_dns_1123_labels(name, label):
    assert dns_label(name) == label


def test_collisions_get_suffixes_in_file_order_and_reserved_names_are_never_used():
    students = parse_roster(
        "name,email\nAnne Dupont,a@x.fr\nanne dupont,b@x.fr\nANNE-DUPONT,\nMonitoring,\nKube System,\nLab Ingress,\n", "r.csv")
    assert [s.id for s in students] == ["anne-dupont", "anne-dupont-2", "anne-dupont-3", "monitoring-2",
                                        "student-kube-system", "student-lab-ingress"]
    assert [s.line for s in students] == [2, 3, 4, 5, 6, 7]
    assert students[1].email == "b@x.fr" and students[0].name == "Anne Dupont"


def test_the_same_roster_always_gives_the_same_ids():
    text = "name\nÉlodie Martin\nElodie Martin\nBob\n"
    assert parse_roster(text, "r.csv") == parse_roster(text, "r.csv")


def test_semicolon_separated_roster_with_bom_columns_in_any_order(tmp_path):
    file = tmp_path / "classe.csv"
    file.write_text("\ufeffGroup;Name;Email\nA;Élodie Martin;elodie@example.fr\nB;Paul;\n", encoding="utf-8")
    students = read_roster(file)
    assert [(s.id, s.group, s.email) for s in students] == [("elodie-martin", "A", "elodie@example.fr"), ("paul", "B", "")]


@pytest.mark.parametrize("text, message", [
    ("", "empty roster"),
    ("nom,courriel\nAnne,\n", "line 1: the header must name the columns name (required), email, group; got nom,courriel"),
    ("name,name\nAnne,\n", "line 1: the header must name"),
    ("name\n", "no student rows after the header line"),
    ("name,email\nAnne,a@x.fr\n,b@x.fr\n", "line 3: empty name"),
    ("name,email\nAnne,a@x.fr\n\nBob,not-an-email\n", "line 4: 'not-an-email' is not an email address"),
    ("name,email\nAnne,a@x,fr\n", "line 2: 3 fields for 2 columns"),
    ("name\n张伟\n", "line 2: name '张伟' has no Latin letter or digit"),
    ("name,email\n,x@y.fr\nAnne,bad\n,z@y.fr\n,\n", "line 2: empty name; fix the row and run again (2 more bad rows after it)"),
])
def test_bad_rosters_name_the_file_the_line_and_the_problem_in_one_line(text, message):
    with pytest.raises(LabsError) as error:
        parse_roster(text, "class.csv")
    assert str(error.value).startswith("class.csv") and message in str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_a_quoted_multiline_field_keeps_line_numbers_of_later_rows_right():
    with pytest.raises(LabsError, match="line 4: empty name"):
        parse_roster('name,group\n"Anne\nDupont",A\n,B\n', "r.csv")


def test_too_many_students_in_a_roster(tmp_path):
    rows = "".join(f"Student {i}\n" for i in range(MAX_STUDENTS + 1))
    with pytest.raises(LabsError, match="1 to 500 students, got 501"):
        parse_roster("name\n" + rows, "big.csv")


def test_missing_roster_file_and_exactly_one_source(tmp_path):
    with pytest.raises(LabsError, match="no such roster file"):
        read_roster(tmp_path / "absent.csv")
    with pytest.raises(LabsError, match="not both"):
        load_students(3, str(tmp_path / "r.csv"))
    with pytest.raises(LabsError, match="--students=N"):
        load_students()


def test_normalized_roster_round_trips_and_is_validated_when_read(tmp_path):
    students = parse_roster("name,email,group\nÉlodie Martin,e@x.fr,A\nBob,,B\n", "r.csv")
    file = tmp_path / "roster.json"
    file.write_text(dump_roster(students, "cluster"))
    read, tenancy = load_roster_json(file)
    assert tenancy == "cluster"
    assert [(s.id, s.name, s.email, s.group) for s in read] == [(s.id, s.name, s.email, s.group) for s in students]
    data = json.loads(file.read_text())
    data["students"][1]["id"] = "Bad Id"
    file.write_text(json.dumps(data))
    with pytest.raises(LabsError, match="unique DNS-1123 labels"):
        load_roster_json(file)
    with pytest.raises(LabsError, match="the classroom roster is gone"):
        load_roster_json(tmp_path / "gone.json")

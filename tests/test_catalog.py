"""The lab catalog: loading, lookup by slug or number, and one clear line per mistake."""
from __future__ import annotations

import pytest

from infra.catalog import Catalog
from infra.errors import LabsError
from infra.layers import LAYERS, closure
from tests.conftest import lab_yaml, write_lab


def test_ingress_lab_is_slide_7_with_the_ingress_layer(catalog):
    lab = catalog.resolve("ingress")
    assert (lab.number, lab.id, lab.slide) == (7, "07-ingress", "Ingress")
    assert lab.layers == ("ingress",)
    assert lab.objectives["fr"] and lab.objectives["en"]


@pytest.mark.parametrize("ref", ["ingress", "7", "07", "07-ingress", " Ingress "])
def test_a_lab_is_found_by_slug_number_or_folder(catalog, ref):
    assert catalog.resolve(ref).slug == "ingress"


def test_unknown_lab_names_the_labs_and_the_closest_match(catalog):
    with pytest.raises(LabsError) as err:
        catalog.resolve("ingres")
    message = str(err.value)
    assert "unknown lab 'ingres'" in message and "Did you mean 'ingress'?" in message
    assert "\n" not in message


def test_all_selects_every_lab(catalog):
    assert [lab.slug for lab in catalog.select("all")] == [lab.slug for lab in catalog.labs]


@pytest.mark.parametrize(
    "text, expected",
    [
        (lab_yaml("ingress").replace("duration: 30\n", ""), "field 'duration': missing"),
        (lab_yaml("ingress").replace("duration: 30", "duration: soon"), "field 'duration': must be a int"),
        (lab_yaml("ingress", layers="[ingres]"), "field 'layers': unknown layer 'ingres'"),
        (lab_yaml("other"), "field 'slug': 'other' does not match the folder name '07-ingress'"),
        (lab_yaml("ingress") + "colour: blue\n", "field 'colour': unknown field"),
        (lab_yaml("ingress").replace("en: [Understand]", "en: []"), "field 'objectives.en'"),
        ("slide: [unclosed\n", "not valid YAML at line"),
        ("- a list\n", "must be a mapping of fields"),
    ],
)
def test_a_malformed_lab_yaml_names_the_file_and_the_field(tmp_path, text, expected):
    write_lab(tmp_path, "07-ingress", text)
    with pytest.raises(LabsError) as err:
        Catalog.load(tmp_path)
    assert str(tmp_path / "07-ingress" / "lab.yaml") in str(err.value)
    assert expected in str(err.value)


def test_a_lab_without_its_english_guide_is_rejected(copy_of_real_lab):
    (copy_of_real_lab / "07-ingress" / "README.en.md").unlink()
    with pytest.raises(LabsError, match="README.en.md: missing"):
        Catalog.load(copy_of_real_lab)


def test_two_labs_with_one_number_are_rejected(tmp_path):
    write_lab(tmp_path, "07-ingress", lab_yaml("ingress"))
    write_lab(tmp_path, "07-routes", lab_yaml("routes"))
    with pytest.raises(LabsError, match="number 07 is also used"):
        Catalog.load(tmp_path)


def test_closure_puts_dependencies_first_and_once():
    assert closure(["ingress"]) == ["gateway-api", "ingress"]
    assert closure(["gateway-api", "ingress", "gateway-api"]) == ["gateway-api", "ingress"]


def test_closure_rejects_cycles(monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(LAYERS, "gateway-api", replace(LAYERS["gateway-api"], requires=("ingress",)))
    with pytest.raises(LabsError, match="cycle"):
        closure(["ingress"])

"""The French guides give each Kubernetes kind one grammatical gender ("le Deployment" everywhere, never
"la Deployment" in another guide), and keep the deck's title for lab 19's slide only."""
from __future__ import annotations

import re

from infra.paths import LABS_DIR

MASCULINE = ("le", "un", "du", "au", "ce", "nouveau", "son", "ton", "seul")
FEMININE = ("la", "une", "de la", "à la", "cette", "nouvelle", "sa", "ta", "seule")
KINDS = ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet", "Service", "ServiceMonitor", "PodMonitor",
         "PrometheusRule", "ConfigMap", "Secret", "Ingress", "HTTPRoute", "Gateway", "PV", "PVC", "HPA",
         "StorageClass", "VolumeSnapshot")


def french_text() -> str:
    return "\n".join(path.read_text() for path in sorted(LABS_DIR.glob("*/README.fr.md")))


def genders(text: str, kind: str) -> set[str]:
    found = set()
    for words, gender in ((MASCULINE, "m"), (FEMININE, "f")):
        pattern = r"\b(?:" + "|".join(map(re.escape, words)) + r")\s+\**`?" + kind + r"\b"
        if re.search(pattern, text, re.IGNORECASE):
            found.add(gender)
    return found


def test_each_kind_has_one_gender_across_the_french_guides():
    text = french_text()
    mixed = {kind: genders(text, kind) for kind in KINDS if len(genders(text, kind)) > 1}
    assert mixed == {}, mixed


def test_the_gender_check_sees_a_mixed_kind():
    assert genders("la Deployment web, puis le Deployment web", "Deployment") == {"m", "f"}


def test_managed_offers_agree_in_prose():
    assert "Offres managés" not in french_text().replace("Offres managés cloud", "")

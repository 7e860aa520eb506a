"""The README's isolation matrix is the list the controlplane tier plays (tests/classroom_isolation.py)."""
from infra.paths import PROJECT_ROOT
from tests.classroom_isolation import CANNOT, TABLE_END, TABLE_START, readme_table


def test_the_readme_table_is_the_matrix_the_controlplane_tier_plays():
    text = (PROJECT_ROOT / "README.md").read_text()
    start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
    assert text[start:end] == readme_table(), "README's isolation matrix is stale: paste readme_table()'s output"
    assert text[start:end].count("\n| ") == len(CANNOT) + 1  # a row per case, and the header


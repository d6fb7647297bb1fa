"""Golden cases: tests/cases/accounting/<case>/ holds input.yaml, expected.yaml and WORKING.md.

Expected values are worked by hand from the policy texts (see each WORKING.md), never produced by
running this code. Keys of expected.yaml are dotted paths into the offline result;
`indicators.<id>.<field>` picks an indicator by id. A case whose expected.yaml has
`error_contains` must be refused with an ActivityError whose message holds each fragment.
"""

import math
from pathlib import Path

import pytest
import yaml

from lingtan.accounting.activity import ActivityError
from lingtan.accounting.offline import evaluate

CASES = Path(__file__).resolve().parents[1] / "cases" / "accounting"
REL = 1e-9


def _case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if p.is_dir())


def _lookup(result: dict, path: str):
    node = result
    parts = path.split(".")
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "indicators" and node is result:
            ind = parts[i + 1]
            matches = [r for r in node["indicators"] if r["id"] == ind]
            assert matches, f"no indicator {ind!r} in result"
            node = matches[0]
            i += 2
            continue
        if isinstance(node, list):  # a list element by index
            assert part.isdigit() and int(part) < len(node), f"{path}: no element {part!r} in result"
            node = node[int(part)]
            i += 1
            continue
        assert isinstance(node, dict) and part in node, f"{path}: no {part!r} in result"
        node = node[part]
        i += 1
    return node


def test_there_are_enough_cases():
    assert len(_case_dirs()) >= 8


@pytest.mark.parametrize("case", _case_dirs(), ids=lambda p: p.name)
def test_case(case: Path):
    assert (case / "WORKING.md").is_file(), f"{case.name}: the hand calculation WORKING.md is missing"
    data = yaml.safe_load((case / "input.yaml").read_text(encoding="utf-8"))
    expected = yaml.safe_load((case / "expected.yaml").read_text(encoding="utf-8"))
    if "error_contains" in expected:  # a case the method refuses: every fragment must be in the message
        with pytest.raises(ActivityError) as caught:
            evaluate(data, str(case / "input.yaml"))
        missing = [part for part in expected["error_contains"] if part not in str(caught.value)]
        assert not missing, f"{case.name}: {missing} not in the error: {caught.value}"
        return
    result = evaluate(data, str(case / "input.yaml"))
    failures = []
    for path, want in expected.items():
        got = _lookup(result, path)
        if isinstance(want, float | int) and not isinstance(want, bool):
            ok = isinstance(got, float | int) and math.isclose(got, want, rel_tol=REL, abs_tol=1e-9)
        else:
            ok = got == want
        if not ok:
            failures.append(f"{path}: expected {want!r}, got {got!r}")
    assert not failures, f"{case.name}:\n" + "\n".join(failures)

"""The gateway A/B report: medians per side and this tree's ratio to the base's."""

from __future__ import annotations

from benchmarks.gateway_ab import Side, report


def side(name: str, rates: list[float], cpu: list[float], p50: list[float]) -> Side:
    rounds = [
        {"texts_per_s_16": r, "cpu_ms_16": c, "p50_ms_1": p}
        for r, c, p in zip(rates, cpu, p50, strict=True)
    ]
    return Side(name, rounds=rounds)


def test_the_report_gives_medians_and_ratios_to_the_base() -> None:
    base = side("base", [200, 100, 300], [1.0, 1.2, 0.8], [5.0, 6.0, 7.0])
    head = side("head", [250, 150, 999], [0.9, 0.5, 0.6], [5.0, 4.0, 9.0])
    triton = side("Triton itself", [400, 300, 350], [0, 0, 0], [4.0, 4.0, 4.0])
    lines = report(base, head, triton).splitlines()
    assert lines[0] == "| measure | Triton itself | base | head | head / base |"
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in lines[2:]}
    assert rows["c=16 texts/s"] == ["350.00", "200.00", "250.00", "1.25x |"]
    assert rows["CPU ms/call at c=16"] == ["", "1.00", "0.60", "0.60x |"]
    assert rows["c=1 p50 ms"] == ["4.00", "6.00", "5.00", "0.83x |"]

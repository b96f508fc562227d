"""The overview's shared activity: read again only once it is old enough."""

from __future__ import annotations

from conveyor.dashboard.recent import Recent


def test_a_value_is_reused_until_it_is_old_enough() -> None:
    reads: list[int] = []
    now = [100.0]

    def read() -> int:
        reads.append(len(reads))
        return len(reads)

    recent = Recent(read, max_age_seconds=10.0, clock=lambda: now[0])

    assert recent.get() == 1
    now[0] = 109.9
    assert recent.get() == 1
    now[0] = 110.0
    assert recent.get() == 2
    assert len(reads) == 2

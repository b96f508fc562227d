"""A process that enqueues one task under one idempotency key when a gate file appears.

    python -m tests.torture.submitter URL KEY GATE COUNT

Prints the task ids it got back, one per line. Many of these race each other and
HTTP clients in `test_idempotency.py`.
"""

from __future__ import annotations

import os
import sys
import time

from conveyor import Conveyor


def main(url: str, key: str, gate: str, count: int) -> None:
    app = Conveyor(url)
    app.store.get("warm-up")  # connect before the race, not during it
    deadline = time.monotonic() + 60
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            raise SystemExit(f"gate {gate} never opened")
        time.sleep(0.001)
    ids = [app.enqueue("run", [key], idempotency_key=key).id for _ in range(count)]
    app.close()
    print("\n".join(ids), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

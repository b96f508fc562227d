"""The peer comparison (`make bench-peers`): Conveyor, other queues and raw-driver limits.

`run.py` is the driver and runs in Conveyor's virtualenv; each peer module runs in the
peers' own virtualenv (`bench/.peers-venv`) through `child.py`, so that no peer is ever a
dependency of Conveyor. Nothing here may import Conveyor at module level: a peer's
worker imports its module from the peers' virtualenv.
"""

"""Push delivery: tasks of queues with an HTTP target are POSTed to it.

`guard` (the SSRF allow-list) and `signing` are pure and used by the client layer when a
queue is configured; `executor` and `dispatcher` (httpx, the worker runtime) are imported
only where a dispatcher runs.
"""

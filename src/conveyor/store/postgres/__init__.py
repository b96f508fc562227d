"""PostgreSQL backend: the cluster store, shared by any number of servers and workers.

`store.PostgresStore` implements the `Store` protocol with the semantics of the SQLite
backend; `queries.sql` holds every statement under the same names as SQLite's, and
`migrations/` the versioned schema. Requires `psycopg` and `psycopg-pool`
(`pip install 'conveyor-queue[postgres]'`).
"""

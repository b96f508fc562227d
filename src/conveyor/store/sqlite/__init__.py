"""The SQLite backend: one file in WAL mode, shared by every process on one host."""

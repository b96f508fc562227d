"""Small importable apps that worker subprocesses load as `tests.apps.<module>:app`."""

"""The command line: parses arguments and delegates; the composition root."""

"""The worker runtime: claims tasks, runs their handlers, reports outcomes."""

"""The HTTP service: a thin FastAPI layer over `Conveyor`, with no logic of its own."""

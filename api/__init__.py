"""bbplan's HTTP API (FastAPI). Built on the run folders written by :mod:`coverage.runs`."""

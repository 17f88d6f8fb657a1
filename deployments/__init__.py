"""Model deployments: each engine is a thin Ray Serve shell over a backend."""

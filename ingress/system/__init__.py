"""Service-level routes: /health."""

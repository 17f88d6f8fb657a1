"""Asynchronous jobs: the RunPod-style job queue on Ray Serve task consumers."""

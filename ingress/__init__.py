"""The HTTP gateway: a FastAPI ingress deployment in front of the engine deployments."""

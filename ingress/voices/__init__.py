"""The voice library over HTTP: /v1/voices."""

"""Model deployments: Kokoro, the Chatterbox family over S3Gen, and voice conversion."""

"""S3Gen: the speech-token-to-audio model every Chatterbox model and voice conversion render with.

Its batched passes, batch limits, checkpoint location, settings and the shell of its deployments."""

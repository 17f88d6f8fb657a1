"""Voice conversion: recorded speech re-spoken in another voice by S3Gen (Chatterbox's checkpoint)."""

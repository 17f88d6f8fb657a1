"""Voice conversion over HTTP: /v1/audio/conversions (and the hosted Chatterbox API's voice transfer)."""

"""The simple API of the Flask Kokoro wrapper: GET /voices, POST /synthesize, POST /synthesize/stream."""

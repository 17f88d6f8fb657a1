"""Audio post-processing and encoding; pure functions and small stateful streams."""

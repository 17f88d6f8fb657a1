"""The settings the test apps and engines run with, named once for every tier."""

from __future__ import annotations

APP_NAME = "chorus"
# Jobs in the test app: short enough that a dead consumer's job comes back within seconds
# (visibility timeout, which live consumers renew) and results expire within a test (result expiry).
# max_job_s leaves room for a voice conversion on random S3Gen weights on a slow, busy 2-core CI machine.
TEST_JOBS = {"visibility_timeout_s": 3, "max_job_s": 30, "restore_interval_s": 1,
             "result_expiry_s": 15, "max_retries": 1, "runsync_wait_s": 20, "consumer_concurrency": 2}

# Random weights never emit T3's stop token: every chunk is this many speech tokens (0.4 s of audio).
CHATTERBOX_MAX_NEW_TOKENS = 10
CONVERSION_PIECE_SEC = 5
S3GEN_STEPS = 2  # of the flow-matching decoder: a fifth of the released 10 steps' work; the plumbing is the same

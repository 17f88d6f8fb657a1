"""The served tier's failure reports: the replicas' errors written while a test ran, and nothing older."""

from tests.helpers.replica_logs import errors_since, log_sizes

OLD = "ERROR 2026-12-07 10:00:00,000 chorus_Gateway ab -- an error from an earlier test\n"
NEW = ("INFO 2026-12-07 10:00:01,000 chorus_Gateway ab -- CALL stream OK 12.0ms\n"
       "ERROR 2026-12-07 10:00:02,000 chorus_Gateway ab -- stream-input socket failed\n"
       "Traceback (most recent call last):\n"
       '  File "ingress/realtime/service.py", line 1, in _serve\n'
       "ValueError: the cause\n"
       "WARNING 2026-12-07 10:00:03,000 chorus_Gateway ab -- a warning\n")


def test_only_the_errors_written_since_the_offsets_are_reported_with_their_tracebacks(tmp_path):
    gateway = tmp_path / "replica_chorus_Gateway_ab.log"
    gateway.write_text(OLD)
    offsets = log_sizes(tmp_path)
    with gateway.open("a") as log:
        log.write(NEW)
    (tmp_path / "replica_chorus_Kokoro_cd.log").write_text("INFO 2026-12-07 10:00:04,000 chorus_Kokoro cd -- up\n")

    report = errors_since(offsets, tmp_path).splitlines()

    assert report[0] == "== replica_chorus_Gateway_ab.log"
    assert report[1].endswith("stream-input socket failed") and report[-1] == "ValueError: the cause"
    assert len(report) == 5  # neither the earlier error, the INFO and WARNING records, nor the quiet log

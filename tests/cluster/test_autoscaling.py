"""Kokoro autoscaled on the multi-node cluster: streams bring up a second replica, and when they stop the
replica that Serve removes finishes its streams first, so every stream ends with all of its audio."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.autoscaling import (
    ReplicaWatch,
    StreamingClients,
    autoscaled_kokoro,
    drained_requests,
    is_autoscaled,
    stream_speech,
)

# About 9 s of audio a stream.
TEXT = ("The lighthouse keeper climbed the stairs at dusk, lit the great lamp, and watched its beam sweep "
        "across the dark water until the first ships came home.")


def test_kokoro_scales_up_under_streams_and_down_without_cutting_one(chorus):
    reference = stream_speech(chorus.base_url, TEXT)  # unloaded: the full audio every stream must match
    assert reference.outcome == "complete" and reference.bytes > 0, reference
    try:
        # Gaining an autoscaling_config is a new code version to Serve 2.60: every replica is replaced.
        chorus.deploy(chorus.derived(Kokoro=autoscaled_kokoro(max_replicas=2, target_ongoing_requests=2)))
        chorus.wait_for(lambda: is_autoscaled(chorus, "Kokoro"), 60, "the autoscaling config was not applied")
        chorus.wait_healthy(300)
        clients = StreamingClients(chorus.base_url, TEXT)
        with ReplicaWatch(chorus, "Kokoro") as watch:
            chorus.wait_for(lambda: watch.settled_at(1), 60, "Kokoro did not start from one replica")
            (first,) = watch.states()
            clients.add(4)  # twice the target of one replica
            chorus.wait_for(lambda: watch.running() == 2, 180, "no second Kokoro replica under load")
            (new,) = set(watch.states()) - {first}
            up = watch.first_seen("RUNNING")[new]
            chorus.wait_for(lambda: clients.started_since(up) >= 2, 120, "no stream started after the scale-up")
            # Two clients go on streaming, one replica's target: Serve removes a replica while streams run on
            # both (the router sends each new stream to the less loaded one).
            clients.stop(2)
            chorus.wait_for(watch.gone, 180, "Kokoro did not scale back down")
            clients.stop()
            clients.join(180)
            chorus.wait_for(lambda: watch.settled_at(1), 60, "Kokoro did not settle at one replica")
        logs = Path(chorus.cluster.head_node.get_logs_dir_path())
        drained = {replica: drained_requests(logs, replica) for replica in watch.gone()}
        outcomes = [(r.outcome, r.bytes) for r in clients.records]
        began = clients.records[0].started
        print(f"\n{len(outcomes)} streams of {reference.bytes} bytes; the second replica was running "
              f"{up - began:.1f} s after the load began; removed replicas drained {drained}; replicas over time "
              f"{[(round(at - began, 1), counts) for at, counts in watch.timeline()]}")
        assert outcomes == [("complete", reference.bytes)] * len(outcomes), "streams cut on scale-down: 0"
        assert max(drained.values()) >= 1, "a removed replica had streams in flight (else nothing was shown)"
    finally:
        chorus.deploy(chorus.config)  # as the other tests expect it: one Kokoro replica, not autoscaled
        chorus.wait_for(lambda: not is_autoscaled(chorus, "Kokoro") and len(chorus.replicas("Kokoro")) == 1, 180,
                        "the original Kokoro config did not come back")
        chorus.wait_healthy(300)

"""Chorus on a three-node Ray cluster, deployed with `serve deploy`: replicas on other nodes serve."""

from __future__ import annotations

import httpx

from tests.helpers.cluster import CONSUMER_SLOT, ENGINE_NODE


def test_replicas_on_other_nodes_serve_speech_and_jobs(chorus):
    engine_node, jobs_node = chorus.engine_node.node_id, chorus.jobs_node.node_id
    assert {r["node_id"] for r in chorus.replicas("Kokoro")} == {engine_node}, ENGINE_NODE
    assert {r["node_id"] for r in chorus.replicas("Chatterbox")} == {engine_node}, ENGINE_NODE
    assert sorted(r["node_id"] for r in chorus.replicas("JobWorker")) == sorted([engine_node, jobs_node]), CONSUMER_SLOT
    head = chorus.cluster.head_node.node_id
    assert {r["node_id"] for r in chorus.replicas("Gateway")} == {head}

    speech = httpx.post(f"{chorus.base_url}/v1/audio/speech", timeout=60,
                        json={"input": "Served from another node.", "response_format": "wav"})
    assert speech.status_code == 200 and speech.content[:4] == b"RIFF"

    done = httpx.post(f"{chorus.base_url}/runsync", timeout=60,
                      json={"input": {"operation": "tts", "mode": "basic", "text": "A job on a worker node."}}).json()
    assert done["status"] == "COMPLETED", done
    assert done["output"]["model"] == "kokoro" and done["output"]["duration"] > 0.5

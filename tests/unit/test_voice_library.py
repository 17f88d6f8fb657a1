"""The voice library on disk: lifecycle, unique names, atomic writes, restarts and several processes at once."""

import multiprocessing
import os
import re

import pytest

from ground.errors import InvalidRequest, UnknownVoice
from stores.voice_library import VoiceLibrary, kokoro_pack_entries, voice_stats
from stores.voice_library import store as store_module

CLIP = b"RIFF fake clip bytes"  # the library stores clips as given; decoding happens before


def clone(library: VoiceLibrary, name: str, **fields):
    return library.create(name, **({"gender": "female", "description": "calm", "clip_bytes": CLIP, "clip_ext": "wav",
                                    "duration": 12.5, "sample_rate": 44100,
                                    "artifacts": {"conditionals.pt": b"conds of " + name.encode()}} | fields))


@pytest.fixture
def library(tmp_path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "voices")


def visible_entries(library: VoiceLibrary) -> list[str]:
    return sorted(path.name for path in library.root.iterdir() if path.name != ".lock")


def test_create_get_list_rename_delete(library):
    alice = clone(library, "Alice")
    assert re.fullmatch(r"[0-9a-f]{10}", alice.voice_id)
    assert (alice.speaker_name, alice.type, alice.engine, alice.original_file) == (
        "Alice", "user_cloned_voice", "chatterbox", "original.wav")
    assert alice.created_at.utcoffset().total_seconds() == 0
    for key in (alice.voice_id, "Alice", "alice", "ALICE", " aLiCe "):
        assert library.get(key) == alice
    assert library.read_artifact(alice, "conditionals.pt") == b"conds of Alice"
    assert library.original_clip_path(alice).read_bytes() == CLIP

    bob = clone(library, "Bob", gender="Male")
    assert bob.gender == "male"
    assert library.list() == [alice, bob]
    stats = voice_stats(library.list() + kokoro_pack_entries(["jf_alpha", "jm_kumo"]))
    assert stats.total_voices == 4
    assert stats.gender_distribution == {"female": 2, "male": 2}
    assert stats.by_engine == {"chatterbox": 2, "kokoro": 2}
    assert stats.by_type == {"user_cloned_voice": 2, "kokoro_pack": 2}

    renamed = library.update("alice", name="Alicia", description="warmer")
    assert (renamed.voice_id, renamed.speaker_name, renamed.description) == (alice.voice_id, "Alicia", "warmer")
    assert library.get("ALICIA") == renamed
    with pytest.raises(UnknownVoice) as missing:
        library.get("Alice")
    assert missing.value.message == "Voice 'Alice' not found in any library"
    assert library.update(renamed.voice_id, name="ALICIA").speaker_name == "ALICIA"  # its own name in another case

    for attempt in (lambda: clone(library, "alicia"), lambda: library.update("Bob", name="Alicia")):
        with pytest.raises(InvalidRequest) as taken:
            attempt()
        assert (taken.value.http_status, taken.value.param) == (400, "name")
        assert "already exists" in taken.value.message

    assert library.delete("alicia").voice_id == alice.voice_id
    assert library.list() == [bob]
    assert visible_entries(library) == [bob.voice_id]
    for attempt in (lambda: library.get(alice.voice_id), lambda: library.read_artifact(alice, "conditionals.pt"),
                    lambda: library.delete("Alicia")):
        with pytest.raises(UnknownVoice):
            attempt()


@pytest.mark.parametrize("name", ["", "   ", "../../etc/passwd", "a/b", "a\\b", "..", "x..y", "nul\x00byte",
                                  "line\nbreak", "bell\x07", "right\u202eto left", "zero\u200bwidth", "x" * 65])
def test_unsafe_names_are_rejected(library, name):
    with pytest.raises(InvalidRequest) as bad:
        clone(library, name)
    assert (bad.value.http_status, bad.value.param) == (400, "name")
    bob = clone(library, "Bob")
    with pytest.raises(InvalidRequest):
        library.update(bob.voice_id, name=name)
    assert library.list() == [bob]


def test_names_are_trimmed_and_may_use_any_script(library):
    assert clone(library, "  Émile Zola  ").speaker_name == "Émile Zola"
    assert clone(library, "花子 (calm) - v2.1").speaker_name == "花子 (calm) - v2.1"


def test_packs_are_entries_but_not_stored(library):
    alpha, kumo, custom = kokoro_pack_entries(["jf_alpha", "jm_kumo", "narrator"])
    assert (alpha.voice_id, alpha.speaker_name, alpha.type, alpha.engine, alpha.gender) == (
        "jf_alpha", "jf_alpha", "kokoro_pack", "kokoro", "female")
    assert "Japanese" in alpha.description
    assert (kumo.gender, custom.gender) == ("male", "unknown")
    with pytest.raises(UnknownVoice):
        library.read_artifact(alpha, "conditionals.pt")


def test_artifact_names_cannot_leave_the_voice(library):
    voice = clone(library, "Alice")
    with pytest.raises(ValueError):
        library.read_artifact(voice, "../" + voice.voice_id + "/meta.json")
    with pytest.raises(ValueError):
        clone(library, "Bob", artifacts={"../escape.pt": b"x"})


def test_a_failed_write_leaves_no_voice(library, monkeypatch):
    written = []

    def failing_write(path, content):
        if written:
            raise OSError("disk full")
        written.append(path)
        real_write(path, content)

    real_write = store_module.write_atomically
    monkeypatch.setattr(store_module, "write_atomically", failing_write)
    with pytest.raises(OSError):
        clone(library, "Alice")
    assert written  # it failed part way, with a file already written
    assert library.list() == []
    assert visible_entries(library) == []


def _die_mid_write(root):
    written = []

    def dying_write(path, content):
        if written:
            os._exit(1)  # a crash: no exception handler runs
        written.append(path)
        real_write(path, content)

    real_write = store_module.write_atomically
    store_module.write_atomically = dying_write
    clone(VoiceLibrary(root), "Alice")


def test_a_crash_mid_write_leaves_no_voice_and_its_leftovers_go(library):
    process = multiprocessing.get_context("fork").Process(target=_die_mid_write, args=(library.root,))
    process.start()
    process.join(10)
    assert process.exitcode == 1
    leftovers = visible_entries(library)
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-")  # the half-written voice, out of sight
    assert library.list() == []
    with pytest.raises(UnknownVoice):
        library.get("Alice")
    alice = clone(library, "Alice")  # the crashed writer released its lock; the next writer clears up
    assert visible_entries(library) == [alice.voice_id]


def test_a_new_instance_on_the_same_directory_sees_everything(library):
    alice = clone(library, "Alice")
    library.update("Alice", description="after a restart")
    reopened = VoiceLibrary(library.root)
    assert reopened.get("alice") == library.get(alice.voice_id)
    assert reopened.get("alice").description == "after a restart"
    assert reopened.read_artifact(alice, "conditionals.pt") == b"conds of Alice"


def _race_to_create(root, name, start, results):
    start.wait()
    try:
        clone(VoiceLibrary(root), name)
        results.put("created")
    except InvalidRequest as error:
        results.put(error.param)


def test_concurrent_creates_of_one_name_give_one_voice(library):
    context = multiprocessing.get_context("fork")
    names = ["Alice", "alice", "ALICE", "Alice "]
    start, results = context.Barrier(len(names)), context.Queue()
    processes = [context.Process(target=_race_to_create, args=(library.root, name, start, results)) for name in names]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=10) for _ in processes)
    for process in processes:
        process.join(10)
    assert outcomes == ["created", "name", "name", "name"]
    assert len(library.list()) == 1

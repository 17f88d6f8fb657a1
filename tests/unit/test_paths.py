"""Relative paths in settings resolve against one data root: $CHORUS_DATA_ROOT, else the working directory."""

import shutil
from pathlib import Path

import pytest

from deployments.chatterbox.settings import ChatterboxSettings
from deployments.conversion.settings import ConversionSettings
from deployments.kokoro.settings import KokoroSettings
from ground import paths
from ingress.jobs.settings import JobsSettings
from stores.voice_library.settings import VoiceLibrarySettings


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory that is not the checkout, and no data root in the environment."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(paths.DATA_ROOT_ENV, raising=False)
    return cwd


CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_root(elsewhere, tmp_path, monkeypatch) -> Path:
    """A data root holding what a deployment's data root holds: voices/openai_aliases.json."""
    root = tmp_path / "data-root"
    (root / "voices").mkdir(parents=True)
    shutil.copy(CHECKOUT / "voices" / "openai_aliases.json", root / "voices")
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(root))
    return root


def test_a_relative_path_is_under_the_data_root_from_the_environment(elsewhere, tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "data-root"))
    assert paths.resolve(Path("data/voices")) == tmp_path / "data-root" / "data" / "voices"


def test_without_the_variable_a_relative_path_is_under_the_working_directory(elsewhere):
    assert paths.resolve(Path("data/voices")) == elsewhere / "data" / "voices"


def test_an_empty_variable_counts_as_unset(elsewhere, monkeypatch):
    monkeypatch.setenv(paths.DATA_ROOT_ENV, "")
    assert paths.data_root() == elsewhere


def test_an_absolute_path_is_left_alone(elsewhere, tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "data-root"))
    assert paths.resolve(Path("/mnt/chorus/voices")) == Path("/mnt/chorus/voices")


@pytest.mark.parametrize(("model", "field", "given"), [
    (ChatterboxSettings, "checkpoint_dir", "data/chatterbox"),
    (ConversionSettings, "checkpoint_dir", "data/chatterbox"),
    (VoiceLibrarySettings, "root", "data/voices"),
    (JobsSettings, "redis_data_dir", "data/redis"),
    (KokoroSettings, "weights_dir", "weights/kokoro"),
    (KokoroSettings, "cache_dir", "cache"),
])
def test_settings_resolve_their_paths_against_the_data_root(data_root, model, field, given):
    assert getattr(model(**{field: given}), field) == data_root / given
    assert getattr(model(**{field: "/abs/path"}), field) == Path("/abs/path")


def test_default_paths_resolve_too(data_root):
    assert VoiceLibrarySettings().root == data_root / "data" / "voices"
    assert JobsSettings().redis_data_dir == data_root / "data" / "redis"
    assert KokoroSettings().voice_dirs == [data_root / "voices" / "kokoro"]
    assert KokoroSettings(voice_dirs=["extra", "/abs"]).voice_dirs == [data_root / "extra", Path("/abs")]


def test_the_openai_alias_map_is_data_under_the_data_root(data_root, elsewhere, monkeypatch):
    aliases = KokoroSettings().voice_aliases
    assert aliases["alloy"] == "jf_alpha" and aliases["onyx"] == "jm_kumo"
    (data_root / "voices" / "openai_aliases.json").write_text('{"alloy": "jm_kumo"}')
    assert KokoroSettings().voice_aliases == {"alloy": "jm_kumo"}
    assert KokoroSettings(voice_aliases={"x": "jf_alpha"}).voice_aliases == {"x": "jf_alpha"}
    monkeypatch.delenv(paths.DATA_ROOT_ENV)  # the working directory holds no voices/: a clear error
    with pytest.raises(ValueError, match="openai_aliases.json is missing"):
        KokoroSettings()

"""The Chatterbox family's one parameter source agrees with the package and with the README."""

from __future__ import annotations

from pathlib import Path

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, LANGUAGES, SAMPLING_FIELDS
from tests.helpers.readme import chatterbox_field_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_languages_are_the_packages():
    from chatterbox.mtl_tts import SUPPORTED_LANGUAGES

    assert LANGUAGES == SUPPORTED_LANGUAGES and len(LANGUAGES) == 23


def test_each_model_uses_only_sampling_fields_and_its_defaults_are_valid():
    for spec in CHATTERBOX_MODELS.values():
        assert set(spec.uses) <= set(SAMPLING_FIELDS), spec.name
        type(spec.defaults).model_validate(spec.defaults.model_dump())


def test_the_readme_table_is_the_parameter_source():
    assert chatterbox_field_table() in README.read_text(), "regenerate it: python -m tests.helpers.readme"

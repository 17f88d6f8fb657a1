"""Typed handle API of the Chatterbox deployments: the family's models, requests, voices and generation
parameters (names and meanings of the hosted Chatterbox API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from deployments.s3gen.loading import MIN_REFERENCE_SEC
from deployments.s3gen.protocol import LibraryVoice, NoWatermark, ReferenceAudio
from ground.errors import InvalidRequest
from ground.numbers import Integral

# Each generation parameter once: its type and bounds here, its default in ChatterboxParams. Every
# dialect (OpenAI speech, jobs, the WebSocket) declares its field with these types and may only rename it.
Exaggeration = Annotated[float, Field(ge=0, le=2, description="Emotion intensity; higher is more expressive.")]
CfgWeight = Annotated[float, Field(ge=0, le=1, description="Classifier-free guidance weight; higher follows the "
                                   "text and voice more closely, 0 turns guidance off.")]
Temperature = Annotated[float, Field(ge=0.05, le=2, description="Sampling temperature; lower is more "
                                     "deterministic.")]
RepetitionPenalty = Annotated[float, Field(ge=1, le=2, description="Penalty on speech tokens already generated.")]
MinP = Annotated[float, Field(ge=0, le=1, description="Drop tokens less likely than min_p times the likeliest one.")]
TopP = Annotated[float, Field(ge=0, le=1, description="Nucleus sampling: keep the likeliest tokens up to this mass.")]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Same seed, text, voice and parameters: the same "
                            "audio. Unset: a fresh random draw."), Integral]
TopK = Annotated[int, Field(ge=0, le=1000, description="Top-k sampling: keep the k likeliest tokens; 0 turns it "
                            "off."), Integral]
ChunkSize = Annotated[int, Field(ge=1, le=100, description="Words per generated chunk (the streaming unit); "
                                 "unset: the deployment's default."), Integral]


class ChatterboxParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exaggeration: Exaggeration = 0.5
    cfg_weight: CfgWeight = 0.5
    temperature: Temperature = 0.8
    repetition_penalty: RepetitionPenalty = 1.2
    min_p: MinP = 0.05
    top_p: TopP = 1.0
    top_k: TopK = 0
    seed: Seed | None = None
    chunk_size: ChunkSize | None = None
    no_watermark: NoWatermark = False


CHATTERBOX_DEFAULTS = ChatterboxParams()

ORIGINAL, TURBO, MULTILINGUAL = "chatterbox", "chatterbox-turbo", "chatterbox-multilingual"
# Each model's Serve deployment name (here, not in deployment.py, so that code without Ray can read it).
DEPLOYMENT_NAMES = {ORIGINAL: "Chatterbox", TURBO: "ChatterboxTurbo", MULTILINGUAL: "ChatterboxMultilingual"}
ChatterboxModelName = Literal["chatterbox", "chatterbox-turbo", "chatterbox-multilingual"]
# chatterbox.mtl_tts.SUPPORTED_LANGUAGES: ISO 639-1 codes and their names (tests/unit checks them against the
# package, which the gateway does not import).
LANGUAGES = {"ar": "Arabic", "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
             "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "it": "Italian", "ja": "Japanese",
             "ko": "Korean", "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
             "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "tr": "Turkish", "zh": "Chinese"}
DEFAULT_LANGUAGE = "en"  # Multilingual's, when a request names none
Language = Annotated[str, Field(description="Multilingual's language, an ISO 639-1 code: " + ", ".join(LANGUAGES)
                                + ". The other models speak English only.")]
SAMPLING_FIELDS = ("exaggeration", "cfg_weight", "temperature", "repetition_penalty", "min_p", "top_p", "top_k")


@dataclass(frozen=True)
class ChatterboxModelSpec:
    """What a caller sees of one model of the family: its defaults, the fields it uses, what it speaks."""

    name: ChatterboxModelName
    title: str
    defaults: ChatterboxParams
    uses: tuple[str, ...]  # of SAMPLING_FIELDS; the others are accepted and ignored
    languages: dict[str, str] = field(default_factory=dict)  # code -> name; none: English only, no language field
    min_reference_sec: float = MIN_REFERENCE_SEC  # shortest reference clip it clones a voice from
    tags: tuple[str, ...] = ()  # paralinguistic tags its tokenizer reads as tokens


def check_language(spec: ChatterboxModelSpec, language: str | None, param: str = "language") -> None:
    """A language the model speaks: one of its codes, or none (English) on a model that speaks only English."""
    if spec.languages and language is not None and language not in spec.languages:
        raise InvalidRequest(f"{spec.title} does not speak '{language}'; {param} is one of "
                             f"{', '.join(spec.languages)}", param=param)
    if not spec.languages and language not in (None, "en"):
        raise InvalidRequest(f"{spec.title} speaks English only; {param} is for chatterbox-multilingual, "
                             f"whose languages are {', '.join(LANGUAGES)}", param=param)


CHATTERBOX_MODELS: dict[str, ChatterboxModelSpec] = {spec.name: spec for spec in (
    ChatterboxModelSpec(ORIGINAL, "Chatterbox", CHATTERBOX_DEFAULTS,
                        ("exaggeration", "cfg_weight", "temperature", "repetition_penalty", "min_p", "top_p")),
    # Turbo's defaults are those of ChatterboxTurboTTS.generate; it has no guidance, no min-p and no emotion input.
    ChatterboxModelSpec(TURBO, "Chatterbox Turbo",
                        ChatterboxParams(exaggeration=0, cfg_weight=0, min_p=0, top_p=0.95, top_k=1000),
                        ("temperature", "repetition_penalty", "top_p", "top_k"), min_reference_sec=5.0,
                        tags=("[laugh]", "[chuckle]", "[cough]", "[sigh]", "[gasp]", "[groan]", "[sniff]", "[shush]",
                              "[clear throat]")),
    # ChatterboxMultilingualTTS.generate penalises repetition harder than the original.
    ChatterboxModelSpec(MULTILINGUAL, "Chatterbox Multilingual", ChatterboxParams(repetition_penalty=2.0),
                        ("exaggeration", "cfg_weight", "temperature", "repetition_penalty", "min_p", "top_p"),
                        languages=LANGUAGES),
)}


@dataclass
class PreparedVoice:
    """A voice `prepare_voice` made and nobody stored yet (the sample of a voice being cloned)."""

    conditionals: bytes


@dataclass
class ChatterboxRequest:
    text: str
    voice: LibraryVoice | ReferenceAudio | PreparedVoice | None = None  # None: the deployment's default voice
    params: ChatterboxParams | None = None  # None: the model's defaults (CHATTERBOX_MODELS)
    max_reference_duration_sec: float | None = None  # a ReferenceAudio is cut to this (and to the deployment's cap)
    language: str | None = None  # Multilingual only (LANGUAGES); None: English

// The models the gateway serves (GET /v1/models), one per engine, and what the Speak form offers for each
// engine: its language menu (and the request field it fills), the Chatterbox sliders it reads, its text tags.
// The gateway does not publish these; they mirror deployments/chatterbox/protocol.py and Kokoro's lang_code.

import { callJson } from "./api.js";
import { clearErrors, showError } from "./errors.js";
import { $, emit, state } from "./state.js";

const KOKORO_LANGUAGES = [
  ["a", "American English"], ["b", "British English"], ["e", "Spanish"], ["f", "French"], ["h", "Hindi"],
  ["i", "Italian"], ["j", "Japanese"], ["p", "Brazilian Portuguese"], ["z", "Mandarin Chinese"],
];

const MULTILINGUAL_LANGUAGES = [
  ["ar", "Arabic"], ["da", "Danish"], ["de", "German"], ["el", "Greek"], ["en", "English"], ["es", "Spanish"],
  ["fi", "Finnish"], ["fr", "French"], ["he", "Hebrew"], ["hi", "Hindi"], ["it", "Italian"], ["ja", "Japanese"],
  ["ko", "Korean"], ["ms", "Malay"], ["nl", "Dutch"], ["no", "Norwegian"], ["pl", "Polish"], ["pt", "Portuguese"],
  ["ru", "Russian"], ["sv", "Swedish"], ["sw", "Swahili"], ["tr", "Turkish"], ["zh", "Chinese"],
];

// `sliders`: the Chatterbox controls the model uses (Turbo has no guidance and no emotion input).
export const ENGINES = {
  kokoro: { languages: { field: "lang_code", initial: "a", options: KOKORO_LANGUAGES } },
  chatterbox: { sliders: ["exaggeration", "cfg_weight", "temperature"] },
  "chatterbox-turbo": {
    sliders: ["temperature"],
    tags: ["[laugh]", "[chuckle]", "[cough]", "[sigh]", "[gasp]", "[groan]", "[sniff]", "[shush]", "[clear throat]"],
  },
  "chatterbox-multilingual": {
    sliders: ["exaggeration", "cfg_weight", "temperature"],
    languages: { field: "language", initial: "en", options: MULTILINGUAL_LANGUAGES },
  },
};

export function isChatterbox(engine) {
  return engine.startsWith("chatterbox");
}

// The engine of the model the Speak form has chosen.
export function chosenEngine(form) {
  return form.elements.model.selectedOptions[0]?.dataset.engine || "kokoro";
}

// One model per engine: the one named as its engine (kokoro, not its OpenAI names tts-1 ...), else the first.
async function loadModels() {
  const engines = new Map();
  for (const card of (await callJson("v1/models")).data) {
    const known = engines.get(card.engine);
    if (!known || (card.id === card.engine && known.id !== known.engine)) engines.set(card.engine, card);
  }
  state.models = [...engines.values()].map(({ id, engine, ready }) => ({ id, engine, ready }));
  emit("models");
}

// Reloads the models; a failure (a 401 before the key is given, say) is shown at the engine picker.
export async function refreshModels() {
  const field = $("#model").closest(".field");
  clearErrors(field);
  try {
    await loadModels();
  } catch (error) {
    showError(field, error, $('[data-error-for="model"]', field));
  }
}

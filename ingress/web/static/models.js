// The models the gateway serves (GET /v1/models), one per engine, and what the Speak form offers for each: its
// language menu (and the request field it fills), the sampling fields it reads, its text tags. Each model's card
// says these, from the engines' own parameter sources.

import { callJson } from "./api.js";
import { clearErrors, showError } from "./errors.js";
import { $, emit, state } from "./state.js";

// What the form offers for `engine`: `languages` ({field, initial, options: [[value, name], ...]}) when it speaks
// more than one, the `sliders` it reads, their `defaults` (the model's own) and its `tags`. Before the models arrive: Kokoro's nothing.
export function engineSpec(engine) {
  const card = state.models?.find((model) => model.engine === engine);
  if (!card) return {};
  const languages = card.language_field && {
    field: card.language_field, initial: card.default_language, options: Object.entries(card.languages),
  };
  return { languages, sliders: card.parameters, defaults: card.defaults, tags: card.tags };
}

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
  state.models = [...engines.values()];
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

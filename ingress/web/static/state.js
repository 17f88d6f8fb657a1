// What the page knows about the gateway, shared by the panels; "health", "models" and "voices" events say it
// changed, and "engine" that the Speak form's engine did.

export const state = {
  health: null, // GET /health: {status, engines: {kokoro, chatterbox, chatterbox-turbo, ..., conversion}}
  models: [], // one per engine, from GET /v1/models: {id, engine, ready}
  packs: [], // Kokoro packs (GET /v1/audio/voices)
  aliases: {}, // OpenAI name -> pack
  defaultVoice: null,
  library: [], // cloned voices (GET /v1/voices, type user_cloned_voice)
};

export const ENGINE_NAMES = { kokoro: "Kokoro", chatterbox: "Chatterbox", "chatterbox-turbo": "Chatterbox Turbo",
  "chatterbox-multilingual": "Chatterbox Multilingual", conversion: "Conversion" };

export const events = new EventTarget();

export function emit(name) {
  events.dispatchEvent(new Event(name));
}

export function engine(name) {
  return state.health?.engines?.[name] ?? null;
}

export function available(name) {
  return engine(name)?.status === "ready";
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function element(tag, properties = {}, ...children) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

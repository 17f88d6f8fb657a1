// The playground's entry point: engine state from /health, the models, the key field, the three panels.
// window.playground exposes what the tests (and the curious) read: state, and `last`, the last
// speech request (decoded duration, when playback started, when the response ended, ...).

import { apiKey, health, setApiKey } from "./api.js";
import { setupConvert } from "./convert.js";
import { clearErrors } from "./errors.js";
import { refresh, setupLibrary } from "./library.js";
import { refreshModels } from "./models.js";
import { refreshParameters } from "./parameters.js";
import { setupSpeak } from "./speak.js";
import { $, ENGINE_NAMES, element, emit, state } from "./state.js";

// setupSpeak adds `last` and `player` (the Speak panel's playback).
const playground = { state, ready: false, refreshHealth, refreshVoices, refreshModels };
window.playground = playground;

async function refreshHealth() {
  const list = $("#engines");
  try {
    state.health = await health();
  } catch (error) {
    state.health = { status: "unreachable", engines: {} };
    list.replaceChildren(element("li", { className: "chip", textContent: error.message }));
    list.dataset.status = "unreachable";
    emit("health");
    return;
  }
  list.dataset.status = state.health.status;
  // The key field only where the gateway asks for a key (or one is already kept for this tab).
  $("#key-form").hidden = !state.health.auth_required && !apiKey();
  list.replaceChildren(...Object.entries(state.health.engines).map(([name, info]) => {
    const backend = info.status === "ready" && info.backend && info.backend !== "none" ? ` · ${info.backend}` : "";
    const label = `${ENGINE_NAMES[name] || name}${backend}`;
    const chip = element("li", { className: "chip", textContent: `${label}: ${info.status}` });
    chip.dataset.engine = name;
    chip.dataset.status = info.status;
    if (info.reason) chip.title = info.reason;
    return chip;
  }));
  emit("health");
}

async function refreshVoices() {
  return refresh($("#voice-list"));
}

function setupKey() {
  const form = $("#key-form");
  form.elements.api_key.value = apiKey();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    clearErrors($("#voice-list"));
    setApiKey(form.elements.api_key.value.trim());
    await Promise.all([refreshVoices(), refreshModels(), refreshParameters($("#speak-form"))]);
  });
}

setupKey();
setupSpeak(playground);
setupLibrary();
setupConvert();
await Promise.all([refreshHealth(), refreshVoices(), refreshModels(), refreshParameters($("#speak-form"))]);
playground.ready = true;
document.documentElement.dataset.ready = "true";

// Which model the Speak form asks for: one entry per engine from /v1/models (a model that cannot speak is shown
// but cannot be chosen; one at zero replicas can: its first request starts it), the language menu of the chosen engine, and the Chatterbox controls it uses. Says
// "engine" when the chosen engine may have changed: the voice picker and the tag buttons follow it.

import { engineSpec, chosenEngine, isChatterbox } from "./models.js";
import { showValue } from "./parameters.js";
import { $, ENGINE_NAMES, element, emit, engine, events, state } from "./state.js";

export function setupModelPicker(form) {
  const model = form.elements.model;
  const language = $("#language");
  const languageField = language.closest(".field");
  const chatterboxControls = $("#chatterbox-controls");
  const picked = {}; // engine -> the language last picked for it, kept while another engine is chosen

  const title = (name) => ENGINE_NAMES[name] || name;
  // Idle: scaled to zero, so the next request starts a replica (and waits for it); starting: one is on its way.
  const usable = (entry) => entry.ready || entry.status === "idle" || entry.status === "starting";
  const label = (entry) => title(entry.engine) + (entry.ready ? "" : usable(entry) ? " (starts on first use)" : " (not loaded)");

  function renderModels() {
    const previous = model.value;
    model.replaceChildren(...state.models.map((entry) => {
      const option = element("option", { value: entry.id, disabled: !usable(entry), textContent: label(entry) });
      option.dataset.engine = entry.engine;
      return option;
    }));
    // The choice stays while it can speak; otherwise the first model that is ready.
    const ready = state.models.filter((entry) => entry.ready);
    const kept = state.models.find((entry) => entry.id === previous && usable(entry)) || ready[0] || state.models[0];
    if (kept) model.value = kept.id;
    renderReasons();
    applyEngine();
  }

  // Why a model is not ready, from /health (which /v1/models does not say).
  function renderReasons() {
    const down = state.models.filter((entry) => !usable(entry));
    const because = (name) => engine(name)?.reason || engine(name)?.status || "not loaded";
    const kokoro = down.find((entry) => entry.engine === "kokoro");
    const note = $("#engine-note");
    note.hidden = !kokoro;
    if (kokoro) note.textContent = `Kokoro is unavailable: ${because("kokoro")}`;
    const reasons = $("#chatterbox-reason");
    const chatterbox = down.filter((entry) => isChatterbox(entry.engine));
    reasons.replaceChildren(...chatterbox.map((entry) => {
      const item = element("li", { textContent: `${title(entry.engine)} is unavailable: ${because(entry.engine)}` });
      item.dataset.engine = entry.engine;
      return item;
    }));
    reasons.hidden = !chatterbox.length;
  }

  function applyEngine() {
    const chosen = chosenEngine(form);
    const spec = engineSpec(chosen);
    // The menu's name is the request field it fills: lang_code (Kokoro) or language (Multilingual).
    languageField.hidden = !spec.languages;
    if (spec.languages) {
      const { field, initial, options } = spec.languages;
      language.name = field;
      language.replaceChildren(...options.map(([code, name]) =>
        element("option", { value: code, textContent: `${name} (${code})` })));
      language.value = picked[chosen] || initial;
    }
    const chatterbox = isChatterbox(chosen);
    const entry = state.models.find((card) => card.id === model.value);
    chatterboxControls.disabled = !chatterbox || !entry || !usable(entry);
    for (const slider of chatterboxControls.querySelectorAll('input[type="range"]')) {
      slider.closest(".field").hidden = chatterbox && !spec.sliders?.includes(slider.name);
      // A slider never moved asks for nothing, so it stands where the chosen model's own default is.
      const standing = spec.defaults?.[slider.name];
      if ("unset" in slider.dataset && standing !== undefined) slider.value = String(standing);
      showValue(slider);
    }
    emit("engine");
  }

  model.addEventListener("change", applyEngine);
  language.addEventListener("change", () => (picked[chosenEngine(form)] = language.value));
  events.addEventListener("models", renderModels);
  events.addEventListener("parameters", applyEngine);
  events.addEventListener("health", renderReasons);
  applyEngine();
}

// The Speak form's bounds, defaults and formats from the gateway's own OpenAPI document (SpeechRequest), which
// the API builds from the engines' parameter types: the page states none of those numbers itself.

import { callJson } from "./api.js";
import { showError } from "./errors.js";
import { $, emit } from "./state.js";

// The schema of a field: for an optional one (anyOf [the type, null]), its type's.
function typeOf(property) {
  return property.anyOf?.find((type) => type.type !== "null") ?? property;
}

// An <input> has no exclusive min or max: an exclusive bound becomes the first value on the input's step inside
// it (above an exclusiveMinimum, below an exclusiveMaximum), so the input offers no value the API refuses.
function stepInside(bound, step, above) {
  const steps = Number((bound / step).toFixed(9)); // 0.25 / 0.05 is 5.000000000000001
  const inside = above ? Math.floor(steps) + 1 : Math.ceil(steps) - 1;
  const decimals = (String(step).split(".")[1] || "").length;
  return Number((inside * step).toFixed(decimals));
}

function applyBounds(input, property) {
  const type = typeOf(property);
  const step = Number(input.step) || 1;
  const min = type.exclusiveMinimum === undefined ? type.minimum : stepInside(type.exclusiveMinimum, step, true);
  const max = type.exclusiveMaximum === undefined ? type.maximum : stepInside(type.exclusiveMaximum, step, false);
  if (min !== undefined) input.min = String(min);
  if (max !== undefined) input.max = String(max);
  if (property.default !== undefined && property.default !== null) {
    input.value = String(property.default);
  } else if (input.type === "range") {
    // No default in the document: the model has its own (Turbo's differ), so the slider asks for nothing until
    // it is moved. A number input says the same by being empty.
    input.dataset.unset = "";
  }
}

// The download menu: every format the API encodes. WAV stays chosen (the page's choice, not the API's mp3): it is
// saved from what played, with no second request.
function applyFormats(select, property) {
  const chosen = select.value || "wav";
  select.replaceChildren(...typeOf(property).enum.map((format) =>
    new Option(format === "pcm" ? "PCM (16-bit, raw)" : format.toUpperCase(), format)));
  select.value = chosen;
}

async function loadParameters(form) {
  const { properties } = (await callJson("openapi.json")).components.schemas.SpeechRequest;
  for (const input of form.querySelectorAll('input[type="number"], input[type="range"]')) {
    if (properties[input.name]) applyBounds(input, properties[input.name]);
  }
  applyFormats(form.elements.response_format, properties.response_format);
  // The model picker stands the unmoved sliders at its model's defaults within these bounds, and shows them.
  emit("parameters");
}

let loaded = false;

// /openapi.json needs the key where the gateway asks for one: a failure (that 401 before the key is given) is
// shown at the form's foot and the load is tried again with the key. Once loaded, never again: a key given
// later keeps what was typed or moved.
export async function refreshParameters(form) {
  if (loaded) return;
  const slot = $('[data-error-for="_form"]', form);
  try {
    await loadParameters(form);
    loaded = true;
    slot.hidden = true;
  } catch (error) {
    showError(form, error, slot);
  }
}

// A range's <output>: its value, marked as the model's default while it asks for none.
export function showValue(range) {
  const shown = range.form.querySelector(`output[for="${range.id}"]`);
  shown.textContent = "unset" in range.dataset ? `${range.value} (model default)` : range.value;
}

// The number an input asks for; undefined (left out of the request, so the API's default applies) when it is
// empty or a slider that was never moved.
export function chosenNumber(input) {
  if (input.value.trim() === "" || "unset" in input.dataset) return undefined;
  return Number(input.value);
}

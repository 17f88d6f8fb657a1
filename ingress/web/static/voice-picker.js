// Which voice the Speak form asks for, as the chosen engine takes it: Kokoro packs and OpenAI names (and the blend
// builder, a(2)+b(1)) for Kokoro; library voices, or the model's own built-in voice, for any Chatterbox model.

import { chosenEngine, isChatterbox } from "./models.js";
import { $, element, events, state } from "./state.js";

// The picker's entry for a Chatterbox model's built-in voice, which is no voice in the request: a value no
// library voice can have (names have no "/").
const BUILT_IN = "/built-in";

export function setupVoicePicker(form) {
  const model = form.elements.model;
  const voice = form.elements.voice;
  const picker = $("#voice-picker");
  const blendRows = $("#blend-rows");
  const blendPreview = $("#blend-preview");
  let family = null; // "kokoro" or "chatterbox": the Chatterbox models share their voices

  function applyEngine() {
    const chatterbox = isChatterbox(chosenEngine(form));
    $("#blend").hidden = chatterbox;
    // A voice typed for the other family would only be refused.
    if (family && family !== (chatterbox ? "chatterbox" : "kokoro")) delete voice.dataset.typed;
    family = chatterbox ? "chatterbox" : "kokoro";
    voice.placeholder = chatterbox ? "library voice, or empty" : "jf_alpha, nova, a(2)+b(1)…";
    renderPicker();
  }

  function renderPicker() {
    const kokoro = family === "kokoro";
    const groups = [];
    if (kokoro) {
      groups.push(element("optgroup", { label: "Kokoro voices" },
        ...state.packs.map((name) => element("option", { value: name, textContent: name }))));
      const aliases = Object.entries(state.aliases).sort(([a], [b]) => a.localeCompare(b));
      if (aliases.length) {
        groups.push(element("optgroup", { label: "OpenAI names" },
          ...aliases.map(([alias, pack]) => element("option", { value: alias, textContent: `${alias} → ${pack}` }))));
      }
    } else {
      groups.push(element("option", { value: BUILT_IN, textContent: "Built-in voice" }));
      groups.push(element("optgroup", { label: state.library.length ? "Library voices" : "No library voices yet" },
        ...state.library.map((entry) => element("option", { value: entry.speaker_name, textContent: entry.speaker_name }))));
    }
    picker.replaceChildren(element("option", { value: "", textContent: "Pick a voice…" }), ...groups);
    const known = [...picker.options].some((option) => option.value && option.value === voice.value);
    const blend = voice.value.includes("+") || voice.value.includes("(");
    // An empty voice becomes Kokoro's default pack; for Chatterbox it is the model's built-in voice, and stays.
    const keep = kokoro ? voice.value && (voice.dataset.typed || known || blend)
      : !voice.value || voice.dataset.typed || known;
    if (!keep) voice.value = kokoro ? state.defaultVoice || state.packs[0] || "" : state.library[0]?.speaker_name || "";
    syncPicker();
  }

  function syncPicker() {
    const shown = family === "chatterbox" && !voice.value ? BUILT_IN : voice.value;
    picker.value = [...picker.options].some((option) => option.value === shown) ? shown : "";
  }

  // -- the blend builder ---------------------------------------------------------------------------

  function blendRow(name, weight) {
    const select = element("select", { className: "blend-voice", ariaLabel: "Voice" },
      ...state.packs.map((pack) => element("option", { value: pack, textContent: pack })));
    select.value = name;
    const weightInput = element("input", { className: "blend-weight", type: "number", min: "0.1", step: "0.5",
      value: String(weight), ariaLabel: "Weight" });
    const remove = element("button", { type: "button", className: "icon", textContent: "×", title: "Remove" });
    const row = element("div", { className: "blend-row" }, select, weightInput, remove);
    remove.addEventListener("click", () => {
      row.remove();
      updateBlend();
    });
    row.addEventListener("input", updateBlend);
    return row;
  }

  function renderBlendRows() {
    if (blendRows.children.length || state.packs.length < 2) return;
    blendRows.append(blendRow(state.packs[0], 2), blendRow(state.packs[1], 1));
    updateBlend();
  }

  function blendSpec() {
    return [...blendRows.querySelectorAll(".blend-row")]
      .map((row) => `${row.querySelector(".blend-voice").value}(${Number(row.querySelector(".blend-weight").value) || 0})`)
      .join("+");
  }

  function updateBlend() {
    blendPreview.textContent = blendSpec();
  }

  picker.addEventListener("change", () => {
    if (picker.value) voice.value = picker.value === BUILT_IN ? "" : picker.value;
    delete voice.dataset.typed;
  });
  voice.addEventListener("input", () => {
    voice.dataset.typed = "true";
    syncPicker();
  });
  events.addEventListener("engine", applyEngine);
  events.addEventListener("voices", () => {
    renderPicker();
    renderBlendRows();
  });
  $("#blend-add").addEventListener("click", () => {
    blendRows.append(blendRow(state.packs[blendRows.children.length % state.packs.length] || "", 1));
    updateBlend();
  });
  $("#blend-use").addEventListener("click", () => {
    const spec = blendSpec();
    if (!spec) return;
    model.value = "kokoro";
    model.dispatchEvent(new Event("change")); // the model picker applies it, and says "engine"
    voice.value = spec;
    voice.dataset.typed = "true";
    syncPicker();
  });
}

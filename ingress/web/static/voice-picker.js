// Which engine and voice the Speak form asks for: the engine choice (as /health allows it), the voice picker
// (Kokoro packs and OpenAI names, or library voices for Chatterbox), and the Kokoro blend builder (a(2)+b(1)).

import { $, available, element, engine, events, state } from "./state.js";

export function setupVoicePicker(form) {
  const model = form.elements.model;
  const voice = form.elements.voice;
  const picker = $("#voice-picker");
  const chatterboxControls = $("#chatterbox-controls");
  const blendRows = $("#blend-rows");
  const blendPreview = $("#blend-preview");

  const chosenEngine = () => model.value;

  function applyEngine() {
    const chatterbox = chosenEngine() === "chatterbox";
    chatterboxControls.disabled = !chatterbox || !available("chatterbox");
    $("#blend").hidden = chatterbox;
    renderPicker();
  }

  function applyHealth() {
    const option = model.querySelector('option[value="chatterbox"]');
    const reasonNote = $("#chatterbox-reason");
    const chatterbox = engine("chatterbox");
    const up = available("chatterbox");
    option.disabled = !up;
    option.textContent = up ? "Chatterbox" : "Chatterbox (unavailable)";
    if (chatterbox && !up) {
      reasonNote.textContent = `Chatterbox is unavailable: ${chatterbox.reason || chatterbox.status}`;
      reasonNote.hidden = false;
      if (chosenEngine() === "chatterbox") model.value = "kokoro";
    } else {
      reasonNote.hidden = true;
    }
    const kokoro = engine("kokoro");
    const note = $("#engine-note");
    note.hidden = !kokoro || kokoro.status === "ready";
    if (!note.hidden) note.textContent = `Kokoro is unavailable: ${kokoro.reason || kokoro.status}`;
    applyEngine();
  }

  function renderPicker() {
    const kokoro = chosenEngine() !== "chatterbox";
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
      groups.push(element("optgroup", { label: state.library.length ? "Library voices" : "No library voices yet" },
        ...state.library.map((entry) => element("option", { value: entry.speaker_name, textContent: entry.speaker_name }))));
    }
    picker.replaceChildren(element("option", { value: "", textContent: "Pick a voice…" }), ...groups);
    const known = [...picker.options].some((option) => option.value && option.value === voice.value);
    const blend = voice.value.includes("+") || voice.value.includes("(");
    if (!voice.value || (!known && !(kokoro && blend) && !voice.dataset.typed)) {
      voice.value = kokoro ? state.defaultVoice || state.packs[0] || "" : state.library[0]?.speaker_name || "";
    }
    syncPicker();
  }

  function syncPicker() {
    picker.value = [...picker.options].some((option) => option.value === voice.value) ? voice.value : "";
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
    if (picker.value) voice.value = picker.value;
    delete voice.dataset.typed;
  });
  voice.addEventListener("input", () => {
    voice.dataset.typed = "true";
    syncPicker();
  });
  model.addEventListener("change", applyEngine);
  events.addEventListener("health", applyHealth);
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
    applyEngine();
    voice.value = spec;
    voice.dataset.typed = "true";
    syncPicker();
  });

  applyHealth();
}

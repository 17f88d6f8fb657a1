// The voice library: clone from a file or a recording, list, rename, delete, play a reference clip.

import { call, callJson } from "./api.js";
import { clipInput } from "./clip-input.js";
import { clearErrors, showError } from "./errors.js";
import { $, available, element, emit, engine, events, state } from "./state.js";

// GET /v1/voices (cloned voices and Kokoro packs) and GET /v1/audio/voices (packs, aliases, default).
export async function loadVoices() {
  const [listing, kokoro] = await Promise.all([callJson("v1/voices"), callJson("v1/audio/voices")]);
  state.library = listing.voices.filter((entry) => entry.type === "user_cloned_voice");
  state.packs = kokoro.voices;
  state.aliases = { ...kokoro.aliases };
  for (const entry of listing.voices) {
    if (entry.type === "kokoro_pack") for (const alias of entry.aliases || []) state.aliases[alias] ??= entry.voice_id;
  }
  state.defaultVoice = kokoro.default;
  emit("voices");
}

export function setupLibrary() {
  const form = $("#clone-form");
  const list = $("#voice-list");
  const body = $("#voice-table tbody");
  const clipPlayer = $("#clip-player");
  const clipToSend = clipInput(form);

  events.addEventListener("health", () => {
    const note = $("#clone-note");
    const chatterbox = engine("chatterbox");
    note.hidden = !chatterbox || available("chatterbox");
    if (!note.hidden) note.textContent = `Cloning needs Chatterbox, which is unavailable: ${chatterbox.reason || chatterbox.status}`;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const result = $("#clone-result");
    result.hidden = true;
    const fields = new FormData();
    fields.set("name", form.elements.name.value);
    fields.set("gender", form.elements.gender.value);
    if (form.elements.description.value.trim()) fields.set("description", form.elements.description.value);
    const file = clipToSend();
    if (file) fields.set("file", file, file.name);
    const button = $("#clone-button");
    button.disabled = true;
    button.textContent = "Cloning…";
    try {
      const cloned = await callJson("v1/voices", { method: "POST", form: fields });
      const info = cloned.voice_info;
      const sample = element("audio", { controls: true, src: `data:audio/wav;base64,${cloned.sample_audio}` });
      result.replaceChildren(`Cloned “${info.speaker_name}” (${info.voice_id}, ${info.duration?.toFixed(1)} s clip). Its sample: `, sample);
      result.hidden = false;
      form.elements.name.value = "";
      await refresh(list);
    } catch (error) {
      showError(form, error);
    } finally {
      button.disabled = false;
      button.textContent = "Clone voice";
    }
  });

  function row(entry) {
    const name = element("td", { className: "name" }, element("span", { className: "voice-name", textContent: entry.speaker_name }),
      element("small", { className: "voice-id", textContent: entry.voice_id }));
    const actions = element("td", { className: "row-actions" },
      element("button", { type: "button", textContent: "Play clip", title: "The reference clip it was cloned from" }),
      element("button", { type: "button", textContent: "Rename" }),
      element("button", { type: "button", className: "danger", textContent: "Delete" }));
    const [play, rename, remove] = actions.children;
    play.dataset.action = "play";
    rename.dataset.action = "rename";
    remove.dataset.action = "delete";
    const clip = entry.duration != null ? `${entry.duration.toFixed(1)} s` : "—";
    const tr = element("tr", {}, name, element("td", { textContent: entry.gender }), element("td", { className: "clip", textContent: clip }), actions);
    tr.dataset.voiceId = entry.voice_id;
    tr.dataset.voiceName = entry.speaker_name;
    return tr;
  }

  events.addEventListener("voices", () => {
    body.replaceChildren(...state.library.map(row));
    $("#library-empty").hidden = state.library.length > 0;
    $("#library-packs").textContent = state.packs.length
      ? `Kokoro voices (no cloning needed): ${state.packs.join(", ")}.`
      : "";
  });

  function startRename(tr) {
    const cell = tr.querySelector("td.name");
    const input = element("input", { name: "name", value: tr.dataset.voiceName, ariaLabel: "New name" });
    const save = element("button", { type: "button", className: "primary", textContent: "Save" });
    const cancel = element("button", { type: "button", textContent: "Cancel" });
    save.dataset.action = "save";
    cancel.dataset.action = "cancel";
    const slot = element("p", { className: "field-error", hidden: true });
    slot.dataset.errorFor = "name";
    slot.setAttribute("role", "alert");
    cell.replaceChildren(element("div", { className: "inline" }, input, save, cancel), slot);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") save.click();
      if (event.key === "Escape") cancel.click();
    });
    input.focus();
    input.select();
  }

  async function act(tr, action, button) {
    const id = encodeURIComponent(tr.dataset.voiceId);
    clearErrors(list);
    if (action === "rename") return startRename(tr);
    if (action === "cancel") return emit("voices");
    if (action === "save") {
      const name = tr.querySelector('input[name="name"]').value;
      try {
        await callJson(`v1/voices/${id}`, { method: "PATCH", json: { name } });
        await refresh(list);
      } catch (error) {
        showError(tr, error);
      }
      return;
    }
    if (action === "delete") {
      if (button.dataset.confirm !== "true") {
        button.dataset.confirm = "true";
        button.textContent = "Really delete?";
        setTimeout(() => {
          button.dataset.confirm = "false";
          button.textContent = "Delete";
        }, 4000);
        return;
      }
      try {
        await callJson(`v1/voices/${id}`, { method: "DELETE" });
        await refresh(list);
      } catch (error) {
        showError(list, error);
      }
      return;
    }
    if (action === "play") {
      try {
        const blob = await (await call(`v1/voices/${id}/audio`)).blob();
        if (clipPlayer.src) URL.revokeObjectURL(clipPlayer.src);
        clipPlayer.src = URL.createObjectURL(blob);
        tr.dataset.playing = "true";
        clipPlayer.onended = () => delete tr.dataset.playing;
        await clipPlayer.play();
      } catch (error) {
        delete tr.dataset.playing;
        showError(list, error);
      }
    }
  }

  body.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) act(button.closest("tr"), button.dataset.action, button);
  });
}

// Reloads the voices; a failure is shown in `scope` (and a 401 at the key field).
export async function refresh(scope) {
  try {
    await loadVoices();
    return true;
  } catch (error) {
    showError(scope, error);
    return false;
  }
}

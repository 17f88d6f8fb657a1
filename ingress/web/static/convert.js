// Voice conversion: re-speak an uploaded or recorded clip in a library voice (POST /v1/audio/conversions).

import { call } from "./api.js";
import { clipInput } from "./clip-input.js";
import { clearErrors, showError } from "./errors.js";
import { $, available, element, engine, events, state } from "./state.js";

export function setupConvert() {
  const form = $("#convert-form");
  const target = form.elements.voice_id;
  const audio = $("#convert-audio");
  const result = $("#convert-result");
  const clipToSend = clipInput(form);

  events.addEventListener("voices", () => {
    const chosen = target.value;
    target.replaceChildren(
      element("option", { value: "", textContent: state.library.length ? "Pick a library voice…" : "Clone a voice first" }),
      ...state.library.map((entry) => element("option", { value: entry.voice_id, textContent: entry.speaker_name })));
    target.value = state.library.some((entry) => entry.voice_id === chosen) ? chosen : "";
  });

  events.addEventListener("health", () => {
    const note = $("#convert-note");
    const conversion = engine("conversion");
    note.hidden = !conversion || available("conversion");
    if (!note.hidden) note.textContent = `Voice conversion is unavailable: ${conversion.reason || conversion.status}`;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    result.hidden = true;
    const fields = new FormData();
    const file = clipToSend();
    if (file) fields.set("file", file, file.name);
    if (target.value) fields.set("voice_id", target.value);
    fields.set("response_format", "wav");
    const button = $("#convert-button");
    button.disabled = true;
    button.textContent = "Converting…";
    try {
      const response = await call("v1/audio/conversions", { method: "POST", form: fields });
      const blob = await response.blob();
      if (audio.src) URL.revokeObjectURL(audio.src);
      audio.src = URL.createObjectURL(blob);
      audio.hidden = false;
      const seconds = Number(response.headers.get("X-Output-Duration") || 0);
      const name = target.selectedOptions[0]?.textContent || "";
      result.textContent = `${seconds.toFixed(1)} s in the voice of ${name}` +
        ` (${response.headers.get("X-Pieces") || 1} piece(s)).`;
      result.hidden = false;
      await audio.play().catch(() => {});
    } catch (error) {
      showError(form, error);
    } finally {
      button.disabled = false;
      button.textContent = "Convert";
    }
  });
}

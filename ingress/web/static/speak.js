// The Speak panel: Speak streams /v1/audio/speech (pcm, stream=true), or /dev/captioned_speech with captions,
// into Web Audio; Stop stops it; Download saves what played. Each concept has its module: model-picker.js
// (model, language and the Chatterbox controls), voice-picker.js (voice), tags.js (Turbo's tags), speech-request.js
// (the request), speech-stream.js (reading the response as it comes), playback.js (the one owner of playback
// state, and its one animation loop), captions.js (the words).

import { Captions } from "./captions.js";
import { clearErrors, showError } from "./errors.js";
import { setupModelPicker } from "./model-picker.js";
import { showValue } from "./parameters.js";
import { Playback } from "./playback.js";
import { saveSpeech, sendSpeech, speechBody } from "./speech-request.js";
import { readCaptioned, readPcm } from "./speech-stream.js";
import { $ } from "./state.js";
import { setupTags } from "./tags.js";
import { setupVoicePicker } from "./voice-picker.js";

export function setupSpeak(playground) {
  const section = $("#speak");
  const form = $("#speak-form");
  const downloadButton = $("#download-button");
  const playback = new Playback({ root: $("#playback"), status: $("#speak-status"), meter: $("#meter-played"),
    captions: new Captions($("#captions")) });
  playground.player = playback.player;
  Object.defineProperty(playground, "last", { get: () => playback.last, enumerable: true });
  let spoken = null; // {body, audio}: the last request that played to its end, for the download

  for (const range of form.querySelectorAll('input[type="range"]')) {
    range.addEventListener("input", () => {
      delete range.dataset.unset; // moved: it asks for its value from now on
      showValue(range);
    });
  }
  // The model picker last: what follows its "engine" event is listening when it first says it.
  setupVoicePicker(form);
  setupTags(form);
  setupModelPicker(form);

  async function speak() {
    clearErrors(section);
    const captions = form.elements.return_timestamps.checked;
    const body = speechBody(form);
    const run = playback.start({ model: body.model, voice: body.voice ?? null, captions });
    try {
      await run.ready;
      const response = await sendSpeech(body, { captions, signal: run.signal });
      playback.streaming(run, response.status);
      await (captions ? readCaptioned : readPcm)(response, run.signal, {
        audio: (bytes) => playback.received(run, bytes),
        words: (timestamps) => playback.words(run, timestamps),
      });
      if (run.signal.aborted) return; // stopped or replaced: the playback says so already
      spoken = { body, audio: playback.audio() };
      downloadButton.disabled = false;
      await playback.ended(run);
    } catch (error) {
      if (playback.failed(run, error)) showError(form, error);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    speak();
  });

  $("#stop-button").addEventListener("click", () => playback.stop());

  downloadButton.addEventListener("click", async () => {
    if (!spoken) return;
    clearErrors(section);
    downloadButton.disabled = true;
    try {
      await saveSpeech(spoken, form.elements.response_format.value);
    } catch (error) {
      showError(form, error);
    } finally {
      downloadButton.disabled = false;
    }
  });
}

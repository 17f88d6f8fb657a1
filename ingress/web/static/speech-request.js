// The Speak form as a request: its body, sending it, and saving what it said in the chosen format.

import { call } from "./api.js";
import { pcmBlob, saveBlob, wavBlob } from "./audio.js";
import { engineSpec, chosenEngine, isChatterbox } from "./models.js";
import { chosenNumber } from "./parameters.js";

// The body of POST /v1/audio/speech (and /dev/captioned_speech): always streamed 16-bit PCM, which plays as it comes.
// Only the fields the chosen engine uses, and of those only what the form asks for: what is left out takes the
// model's own default.
export function speechBody(form) {
  const fields = form.elements;
  const engine = chosenEngine(form);
  const spec = engineSpec(engine);
  const body = { model: fields.model.value, input: fields.input.value, response_format: "pcm", stream: true };
  const voice = fields.voice.value.trim();
  if (voice) body.voice = voice;
  const number = (name) => {
    const value = chosenNumber(fields[name]);
    if (value !== undefined) body[name] = value;
  };
  number("speed");
  if (spec.languages) body[spec.languages.field] = fields[spec.languages.field].value;
  if (isChatterbox(engine)) {
    // The sliders the page has, of the fields the model uses.
    for (const name of spec.sliders || []) if (fields[name]) number(name);
    number("seed");
  }
  return body;
}

// Resolves to the (2xx) response as soon as its headers are in; with `captions`, the captioned route.
export function sendSpeech(body, { captions, signal }) {
  const path = captions ? "dev/captioned_speech" : "v1/audio/speech";
  return call(path, { method: "POST", json: body, signal });
}

// Saves `spoken` ({body, audio: {chunks, rate}}, a request that played to its end) as speech.<format>: WAV and
// PCM from the audio that played; another format is the same request again, as one encoded file (Chatterbox
// needs a seed to repeat itself).
export async function saveSpeech(spoken, format) {
  if (format === "wav" || format === "pcm") {
    const { chunks, rate } = spoken.audio;
    saveBlob(format === "wav" ? wavBlob(chunks, rate) : pcmBlob(chunks), `speech.${format}`);
    return;
  }
  const body = { ...spoken.body, response_format: format, stream: false };
  const response = await call("v1/audio/speech", { method: "POST", json: body });
  saveBlob(await response.blob(), `speech.${format}`);
}

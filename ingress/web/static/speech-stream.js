// Reading a speech response as it arrives: raw 16-bit PCM from /v1/audio/speech, or newline-delimited JSON
// from /dev/captioned_speech (a line per piece: its base64 PCM and its words). Each piece of audio goes to
// `audio(bytes)`, each piece's words to `words(timestamps)`. Aborting `signal` ends the reading.

import { ApiError } from "./api.js";
import { base64Bytes } from "./audio.js";

// The chunks of a stream until it ends; cancels the stream on abort, or when the caller stops early.
async function* chunks(stream, signal) {
  const reader = stream.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  let done = false;
  try {
    while (!done) {
      const next = await reader.read();
      done = next.done;
      if (!done) yield next.value;
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    if (!done) cancel();
  }
}

export async function readPcm(response, signal, { audio }) {
  for await (const bytes of chunks(response.body, signal)) audio(bytes);
}

export async function readCaptioned(response, signal, { audio, words }) {
  const line = (text) => {
    if (!text.trim()) return;
    const piece = JSON.parse(text);
    // A failure after the stream opened: the server's last line, {"error": {...}} in the API's error shape
    // (the SSE stream sends the same as an error event).
    if (piece.error) throw new ApiError(500, piece.error);
    audio(base64Bytes(piece.audio));
    words(piece.timestamps || []);
  };
  let pending = "";
  for await (const text of chunks(response.body.pipeThrough(new TextDecoderStream()), signal)) {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop();
    lines.forEach(line);
  }
  line(pending);
}

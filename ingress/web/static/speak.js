// The Speak panel: streamed playback of /v1/audio/speech (pcm, stream=true) through Web Audio,
// captions from /dev/captioned_speech, the voice picker and blend builder, the download.

import { call } from "./api.js";
import { PCM_RATE, StreamPlayer, base64Bytes, pcmBlob, saveBlob, wavBlob } from "./audio.js";
import { clearErrors, showError } from "./errors.js";
import { $, available, element, engine, events, state } from "./state.js";

const ENGINE_NAMES = { kokoro: "Kokoro", chatterbox: "Chatterbox" };

export function setupSpeak(playground) {
  const section = $("#speak");
  const form = $("#speak-form");
  const picker = $("#voice-picker");
  const voice = form.elements.voice;
  const chatterboxControls = $("#chatterbox-controls");
  const playback = $("#playback");
  const status = $("#speak-status");
  const captions = $("#captions");
  const downloadButton = $("#download-button");
  const player = new StreamPlayer();
  playground.player = player;
  let controller = null;
  let lastRequest = null; // the body of the last request that played
  let lastAudio = null; // {chunks, rate} of what it played

  for (const range of form.querySelectorAll('input[type="range"]')) {
    const shown = form.querySelector(`output[for="${range.id}"]`);
    range.addEventListener("input", () => (shown.textContent = range.value));
  }

  // -- engines and voices ----------------------------------------------------------------------

  function chosenEngine() {
    return form.elements.model.value;
  }

  function applyEngine() {
    const chatterbox = chosenEngine() === "chatterbox";
    chatterboxControls.disabled = !chatterbox || !available("chatterbox");
    $("#blend").hidden = chatterbox;
    renderPicker();
  }

  function applyHealth() {
    const option = form.elements.model.querySelector('option[value="chatterbox"]');
    const reasonNote = $("#chatterbox-reason");
    const chatterbox = engine("chatterbox");
    const up = available("chatterbox");
    option.disabled = !up;
    option.textContent = up ? "Chatterbox" : "Chatterbox (unavailable)";
    if (chatterbox && !up) {
      reasonNote.textContent = `Chatterbox is unavailable: ${chatterbox.reason || chatterbox.status}`;
      reasonNote.hidden = false;
      if (chosenEngine() === "chatterbox") form.elements.model.value = "kokoro";
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

  picker.addEventListener("change", () => {
    if (picker.value) voice.value = picker.value;
    delete voice.dataset.typed;
  });
  voice.addEventListener("input", () => {
    voice.dataset.typed = "true";
    syncPicker();
  });
  form.elements.model.addEventListener("change", applyEngine);
  events.addEventListener("health", applyHealth);
  events.addEventListener("voices", () => {
    renderPicker();
    renderBlendRows();
  });

  // -- blend builder: a(2)+b(1) ----------------------------------------------------------------

  const blendRows = $("#blend-rows");
  const blendPreview = $("#blend-preview");

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

  $("#blend-add").addEventListener("click", () => {
    blendRows.append(blendRow(state.packs[blendRows.children.length % state.packs.length] || "", 1));
    updateBlend();
  });
  $("#blend-use").addEventListener("click", () => {
    const spec = blendSpec();
    if (!spec) return;
    form.elements.model.value = "kokoro";
    applyEngine();
    voice.value = spec;
    voice.dataset.typed = "true";
    syncPicker();
  });

  // -- speaking --------------------------------------------------------------------------------

  function requestBody() {
    const fields = form.elements;
    const body = { model: fields.model.value, input: fields.input.value, response_format: "pcm", stream: true };
    if (voice.value.trim()) body.voice = voice.value.trim();
    if (fields.speed.value.trim() !== "") body.speed = Number(fields.speed.value);
    if (body.model === "chatterbox") {
      for (const name of ["exaggeration", "cfg_weight", "temperature"]) body[name] = Number(fields[name].value);
      if (fields.seed.value.trim() !== "") body.seed = Number(fields.seed.value);
    }
    return body;
  }

  function setState(name) {
    playground.last.state = name;
    playback.dataset.state = name;
  }

  function describe() {
    const last = playground.last;
    const seconds = player.decodedSeconds.toFixed(1);
    if (last.state === "streaming") {
      const since = last.playbackStartedAt ? ` — playing since ${((last.playbackStartedAt - last.requestedAt) / 1000).toFixed(2)} s` : "";
      return `Streaming… ${seconds} s received${since}`;
    }
    if (last.state === "playing" || last.state === "played") {
      const first = ((last.playbackStartedAt - last.requestedAt) / 1000).toFixed(2);
      const verb = last.state === "played" ? "Played" : "Playing";
      return `${verb} ${seconds} s of ${ENGINE_NAMES[last.model] || last.model} audio; first sound ${first} s after the request, ` +
        `${last.playedAtResponseEnd.toFixed(1)} s already heard when the response ended.`;
    }
    if (last.state === "stopped") return `Stopped after ${player.position.toFixed(1)} s.`;
    if (last.state === "empty") return "The response held no audio.";
    if (last.state === "error") return "The request failed (see the message above).";
    return "Ready.";
  }

  function publish() {
    const last = playground.last;
    last.decodedSeconds = player.decodedSeconds;
    last.playedSeconds = player.position;
    last.peak = player.peak;
    playback.dataset.decodedSeconds = last.decodedSeconds.toFixed(3);
    if (last.playbackStartedAt) playback.dataset.playbackStartedAt = last.playbackStartedAt.toFixed(1);
    if (last.responseEndedAt) playback.dataset.responseEndedAt = last.responseEndedAt.toFixed(1);
    status.textContent = describe();
  }

  // Meter and caption highlight follow the audio clock while anything can still play.
  function animate() {
    const last = playground.last;
    if (!last || !["streaming", "playing"].includes(last.state)) return;
    const position = player.position;
    const total = Math.max(player.decodedSeconds, 0.001);
    $("#meter-played").style.width = `${Math.min(100, (position / total) * 100)}%`;
    highlight(position);
    last.playedSeconds = position;
    requestAnimationFrame(animate);
  }

  let words = []; // {word, start_time, end_time, node}

  function addWords(timestamps) {
    for (const stamp of timestamps) {
      const node = element("span", { className: "word", textContent: stamp.word });
      node.dataset.start = stamp.start_time;
      node.dataset.end = stamp.end_time;
      captions.append(node, " ");
      words.push({ ...stamp, node });
    }
  }

  function highlight(position) {
    let current = -1;
    for (let i = 0; i < words.length; i++) {
      const word = words[i];
      const spoken = word.start_time <= position;
      word.node.classList.toggle("said", spoken && position >= word.end_time);
      if (spoken && position < word.end_time) current = i;
    }
    words.forEach((word, i) => word.node.classList.toggle("now", i === current));
    captions.dataset.word = current >= 0 ? words[current].word : "";
    playground.last.currentWord = current >= 0 ? words[current].word : null;
  }

  function received(bytes) {
    const last = playground.last;
    if (last.firstByteAt === null) last.firstByteAt = performance.now();
    last.bytes += bytes.length;
    if (player.push(bytes)) last.chunks += 1;
    if (last.playbackStartedAt === null && player.startedAt !== null) last.playbackStartedAt = player.startedAt;
    publish();
  }

  async function readPcm(response, signal) {
    const reader = response.body.getReader();
    signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      received(value);
    }
  }

  // Newline-delimited JSON: each line has a piece's audio (base64 pcm) and its words.
  async function readCaptioned(response, signal) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
    let pending = "";
    const line = (text) => {
      if (!text.trim()) return;
      const piece = JSON.parse(text);
      if (piece.error) throw Object.assign(new Error(piece.error.message), piece.error, { status: 500 });
      received(base64Bytes(piece.audio));
      addWords(piece.timestamps || []);
    };
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += value;
      const lines = pending.split("\n");
      pending = lines.pop();
      lines.forEach(line);
    }
    line(pending);
  }

  async function speak() {
    clearErrors(section);
    controller?.abort();
    const thisRun = new AbortController();
    controller = thisRun;
    const withCaptions = form.elements.return_timestamps.checked;
    const body = requestBody();
    const last = {
      model: body.model, voice: body.voice ?? null, captions: withCaptions, state: "requesting",
      requestedAt: performance.now(), firstByteAt: null, playbackStartedAt: null, responseEndedAt: null,
      playedAtResponseEnd: 0, decodedSeconds: 0, playedSeconds: 0, sampleRate: PCM_RATE, bytes: 0, chunks: 0,
      peak: 0, status: null, error: null, currentWord: null,
    };
    playground.last = last;
    delete playback.dataset.playbackStartedAt;
    delete playback.dataset.responseEndedAt;
    words = [];
    captions.replaceChildren();
    captions.hidden = !withCaptions;
    setState("requesting");
    publish();
    try {
      await player.open(PCM_RATE);
      const path = withCaptions ? "dev/captioned_speech" : "v1/audio/speech";
      const response = await call(path, { method: "POST", json: body, signal: thisRun.signal });
      last.status = response.status;
      setState("streaming");
      requestAnimationFrame(animate);
      await (withCaptions ? readCaptioned : readPcm)(response, thisRun.signal);
      if (thisRun.signal.aborted) throw new DOMException("stopped", "AbortError");
      last.responseEndedAt = performance.now();
      last.playedAtResponseEnd = player.position;
      lastRequest = body;
      lastAudio = { chunks: player.chunks, rate: player.rate };
      downloadButton.disabled = false;
      setState(player.samples ? "playing" : "empty");
      publish();
      requestAnimationFrame(animate);
      const ended = await player.finish();
      if (controller === thisRun && ended === "played") {
        setState("played");
        highlight(Infinity);
        publish();
      }
    } catch (error) {
      if (controller !== thisRun) return; // a newer request took over
      if (error.name === "AbortError") {
        setState("stopped");
      } else {
        player.stop();
        last.error = { message: error.message, param: error.param ?? null, status: error.status ?? null };
        showError(form, error);
        setState("error");
      }
      publish();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    speak();
  });

  $("#stop-button").addEventListener("click", () => {
    controller?.abort();
    player.stop();
    if (playground.last && ["requesting", "streaming", "playing"].includes(playground.last.state)) {
      setState("stopped");
      publish();
    }
  });

  downloadButton.addEventListener("click", async () => {
    if (!lastRequest) return;
    clearErrors(section);
    const format = form.elements.response_format.value;
    if (format === "wav" || format === "pcm") {
      const { chunks, rate } = lastAudio;
      saveBlob(format === "wav" ? wavBlob(chunks, rate) : pcmBlob(chunks), `speech.${format}`);
      return;
    }
    // Another format: the same request again, as one encoded file (Chatterbox needs a seed to repeat itself).
    downloadButton.disabled = true;
    try {
      const body = { ...lastRequest, response_format: format, stream: false };
      const response = await call("v1/audio/speech", { method: "POST", json: body });
      saveBlob(await response.blob(), `speech.${format}`);
    } catch (error) {
      showError(form, error);
    } finally {
      downloadButton.disabled = false;
    }
  });

  applyHealth();
}

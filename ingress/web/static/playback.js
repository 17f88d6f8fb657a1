// Playback of the Speak panel: the one owner of its state, one request at a time.
//
// A request goes requesting -> streaming (the response has started) -> playing (the response has ended, audio
// still plays) -> played. It may end as empty (the response held no audio), stopped (Stop, or a newer request)
// or error instead. Only Playback changes the state, and only along NEXT; a request that is no longer the
// current one (stopped, or replaced by a newer one) changes nothing. `last` describes the current or last
// request (the tests read it as window.playground.last). One animation loop moves the meter and the caption
// highlight while audio can play.

import { PCM_RATE, StreamPlayer } from "./audio.js";
import { ENGINE_NAMES } from "./state.js";

// Where each state may go; a new request may start from any state.
const NEXT = {
  idle: ["requesting"],
  requesting: ["requesting", "streaming", "stopped", "error"],
  streaming: ["requesting", "playing", "empty", "stopped", "error"],
  playing: ["requesting", "played", "stopped", "error"],
  played: ["requesting"],
  empty: ["requesting"],
  stopped: ["requesting"],
  error: ["requesting"],
};
export const STATES = Object.freeze(Object.keys(NEXT));
const ANIMATED = new Set(["streaming", "playing"]);

export class Playback {
  #run = null; // {controller, signal, ready}: the request that may still change the state
  #frame = null; // the animation frame asked for, if any

  constructor({ root, status, meter, captions }) {
    this.root = root;
    this.status = status;
    this.meter = meter;
    this.captions = captions;
    this.player = new StreamPlayer();
    this.state = "idle";
    this.last = null;
    root.dataset.state = this.state;
  }

  // A new request (stopping the one before): returns its run; `await run.ready` before sending it, so the audio
  // output starts on the click that asked for it. `info`: {model, voice, captions}.
  start(info) {
    this.#run?.controller.abort();
    const controller = new AbortController();
    const ready = this.player.open(PCM_RATE); // stops what plays, at once
    const run = { controller, signal: controller.signal, ready };
    this.#run = run;
    this.last = {
      model: info.model, voice: info.voice, captions: info.captions, state: this.state,
      requestedAt: performance.now(), firstByteAt: null, playbackStartedAt: null, responseEndedAt: null,
      playedAtResponseEnd: 0, decodedSeconds: 0, playedSeconds: 0, sampleRate: PCM_RATE, bytes: 0, chunks: 0,
      peak: 0, status: null, error: null, currentWord: null,
    };
    delete this.root.dataset.playbackStartedAt;
    delete this.root.dataset.responseEndedAt;
    this.captions.reset(info.captions);
    this.meter.style.width = "0%";
    this.#set("requesting");
    return run;
  }

  // The response's headers are in: its body streams now.
  streaming(run, status) {
    if (!this.#owns(run)) return;
    this.last.status = status;
    this.#set("streaming");
  }

  received(run, bytes) {
    if (!this.#owns(run)) return;
    const last = this.last;
    if (last.firstByteAt === null) last.firstByteAt = performance.now();
    last.bytes += bytes.length;
    if (this.player.push(bytes)) last.chunks += 1;
    if (last.playbackStartedAt === null && this.player.startedAt !== null) last.playbackStartedAt = this.player.startedAt;
    this.#publish();
  }

  words(run, timestamps) {
    if (this.#owns(run)) this.captions.add(timestamps);
  }

  // The response has ended: resolves when its audio has played (or was stopped).
  async ended(run) {
    if (!this.#owns(run)) return;
    this.last.responseEndedAt = performance.now();
    this.last.playedAtResponseEnd = this.player.position;
    if (!this.player.samples) {
      this.#run = null;
      this.#set("empty");
      return;
    }
    this.#set("playing");
    const how = await this.player.finish();
    if (!this.#owns(run)) return;
    this.#run = null;
    if (how === "played") {
      this.#draw(Infinity);
      this.#set("played");
    }
  }

  // The request failed; returns whether that is news to show (not when it was stopped or replaced).
  failed(run, error) {
    if (!this.#owns(run) || error.name === "AbortError") return false;
    this.#run = null;
    this.player.stop();
    this.last.error = { message: error.message, param: error.param ?? null, status: error.status ?? null };
    this.#set("error");
    return true;
  }

  stop() {
    const run = this.#run;
    this.#run = null;
    run?.controller.abort();
    this.player.stop();
    if (run) this.#set("stopped");
  }

  // What played, for the download: {chunks, rate}.
  audio() {
    return { chunks: this.player.chunks, rate: this.player.rate };
  }

  #owns(run) {
    return run !== null && this.#run === run;
  }

  #set(next) {
    if (next !== this.state && !NEXT[this.state].includes(next)) {
      throw new Error(`playback cannot go from ${this.state} to ${next}`);
    }
    this.state = next;
    this.last.state = next;
    this.root.dataset.state = next;
    if (ANIMATED.has(next)) this.#animate();
    this.#publish();
  }

  // One loop however often it is asked for: at most one frame is ever pending.
  #animate() {
    if (this.#frame !== null) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = null;
      if (!ANIMATED.has(this.state)) return;
      const position = this.player.position;
      this.#draw(position);
      this.last.playedSeconds = position;
      this.#animate();
    });
  }

  // The meter and the caption highlight at `position` seconds of the audio.
  #draw(position) {
    const total = Math.max(this.player.decodedSeconds, 0.001);
    this.meter.style.width = `${Math.min(100, (position / total) * 100)}%`;
    this.last.currentWord = this.captions.highlight(position);
  }

  #publish() {
    const last = this.last;
    last.decodedSeconds = this.player.decodedSeconds;
    last.playedSeconds = this.player.position;
    last.peak = this.player.peak;
    this.root.dataset.decodedSeconds = last.decodedSeconds.toFixed(3);
    if (last.playbackStartedAt) this.root.dataset.playbackStartedAt = last.playbackStartedAt.toFixed(1);
    if (last.responseEndedAt) this.root.dataset.responseEndedAt = last.responseEndedAt.toFixed(1);
    this.status.textContent = this.#describe();
  }

  #describe() {
    const last = this.last;
    const seconds = this.player.decodedSeconds.toFixed(1);
    const after = (at) => ((at - last.requestedAt) / 1000).toFixed(2);
    switch (this.state) {
      case "requesting":
        return "Requesting…";
      case "streaming": {
        const since = last.playbackStartedAt ? ` — playing since ${after(last.playbackStartedAt)} s` : "";
        return `Streaming… ${seconds} s received${since}`;
      }
      case "playing":
      case "played":
        return `${this.state === "played" ? "Played" : "Playing"} ${seconds} s of ` +
          `${ENGINE_NAMES[last.model] || last.model} audio; first sound ${after(last.playbackStartedAt)} s after the ` +
          `request, ${last.playedAtResponseEnd.toFixed(1)} s already heard when the response ended.`;
      case "stopped":
        return `Stopped after ${this.player.position.toFixed(1)} s.`;
      case "empty":
        return "The response held no audio.";
      case "error":
        return "The request failed (see the message above).";
      default:
        return "Ready.";
    }
  }
}

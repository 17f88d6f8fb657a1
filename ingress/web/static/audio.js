// Web Audio helpers: a player that schedules 16-bit PCM as it arrives, WAV and PCM files, saving a file.

export const PCM_RATE = 24000; // what /v1/audio/speech sends as pcm unless sample_rate says otherwise
const LEAD_S = 0.05; // how far ahead of "now" a chunk that arrives late is scheduled

// Plays a stream of raw 16-bit little-endian mono PCM: each chunk is scheduled right after the one
// before it as soon as it arrives, so playback starts with the first bytes of the response.
export class StreamPlayer {
  constructor() {
    this.context = null;
    this.reset(PCM_RATE);
  }

  reset(rate) {
    this.rate = rate;
    this.sources = new Set();
    this.segments = []; // {when, offset, duration}: where each chunk sits on the context's clock
    this.chunks = []; // Float32Array per chunk, for the download
    this.carry = null; // an odd trailing byte, completed by the next chunk
    this.samples = 0;
    this.peak = 0;
    this.nextTime = 0;
    this.startTime = null; // context time the first chunk starts at
    this.startedAt = null; // the same moment as performance.now()
    this.finished = false;
    this.frozenAt = null; // position when stopped
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  // Stops what plays and starts afresh at once (position 0, nothing decoded); resolves when the output runs.
  async open(rate = PCM_RATE) {
    this.stop();
    this.reset(rate);
    this.context ??= new AudioContext();
    if (this.context.state !== "running") await this.context.resume();
  }

  // Schedules the next bytes; returns the chunk's place in the audio, or null when it held no sample.
  push(bytes) {
    if (this.carry) {
      const joined = new Uint8Array(this.carry.length + bytes.length);
      joined.set(this.carry);
      joined.set(bytes, this.carry.length);
      bytes = joined;
      this.carry = null;
    }
    const whole = bytes.length - (bytes.length % 2);
    if (whole < bytes.length) this.carry = bytes.slice(whole);
    const count = whole / 2;
    if (!count) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, whole);
    const samples = new Float32Array(count);
    let peak = this.peak;
    for (let i = 0; i < count; i++) {
      const value = view.getInt16(2 * i, true) / 32768;
      samples[i] = value;
      const magnitude = value < 0 ? -value : value;
      if (magnitude > peak) peak = magnitude;
    }
    this.peak = peak;
    this.chunks.push(samples);
    const context = this.context;
    const buffer = context.createBuffer(1, count, this.rate);
    buffer.copyToChannel(samples, 0);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    const now = context.currentTime;
    const when = Math.max(this.nextTime, now + LEAD_S);
    source.start(when);
    if (this.startTime === null) {
      this.startTime = when;
      this.startedAt = performance.now() + (when - now) * 1000;
    }
    const place = { when, offset: this.samples / this.rate, duration: count / this.rate };
    this.segments.push(place);
    this.samples += count;
    this.nextTime = when + place.duration;
    this.sources.add(source);
    source.onended = () => {
      this.sources.delete(source);
      if (this.finished && !this.sources.size) this.resolveDone("played");
    };
    return place;
  }

  // No more bytes are coming; resolves when the last chunk has played.
  finish() {
    this.finished = true;
    if (!this.sources.size) this.resolveDone(this.samples ? "played" : "empty");
    return this.done;
  }

  stop() {
    if (this.context && this.startTime !== null && this.frozenAt === null) this.frozenAt = this.position;
    for (const source of this.sources) {
      source.onended = null;
      try {
        source.stop();
      } catch {
        // never started
      }
    }
    this.sources.clear();
    this.resolveDone?.("stopped");
  }

  get decodedSeconds() {
    return this.samples / this.rate;
  }

  // Seconds of the audio heard so far (a gap while waiting for a late chunk does not count).
  get position() {
    if (this.frozenAt !== null) return this.frozenAt;
    if (!this.context || this.startTime === null) return 0;
    const now = this.context.currentTime;
    let position = 0;
    for (const segment of this.segments) {
      if (now < segment.when) break;
      position = segment.offset + Math.min(now - segment.when, segment.duration);
    }
    return position;
  }
}

export function pcmBlob(chunks) {
  return new Blob([int16(chunks)], { type: "application/octet-stream" });
}

function int16(chunks) {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Int16Array(total);
  let at = 0;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      const value = Math.max(-1, Math.min(1, chunk[i]));
      out[at++] = value < 0 ? value * 32768 : value * 32767;
    }
  }
  return out;
}

export function wavBlob(chunks, rate) {
  const data = int16(chunks);
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, value) => [...value].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + data.byteLength, true);
  text(8, "WAVE");
  text(12, "fmt ");
  header.setUint32(16, 16, true); // fmt chunk size
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, rate, true);
  header.setUint32(28, rate * 2, true); // bytes per second
  header.setUint16(32, 2, true); // block align
  header.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  header.setUint32(40, data.byteLength, true);
  return new Blob([header.buffer, data.buffer], { type: "audio/wav" });
}

export function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

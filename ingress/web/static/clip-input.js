// "Record or upload": a clip from the form's file input or from the microphone. The clone and the convert
// forms both use clipInput(); a recording is used instead of the file until another file is chosen.

// A microphone recording with MediaRecorder; the result is a File the API decodes like an upload.
class Recorder {
  get supported() {
    return Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
  }

  get recording() {
    return this.recorder?.state === "recording";
  }

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    this.parts = [];
    this.recorder = new MediaRecorder(this.stream);
    this.recorder.addEventListener("dataavailable", (event) => event.data.size && this.parts.push(event.data));
    this.stopped = new Promise((resolve) => this.recorder.addEventListener("stop", resolve, { once: true }));
    this.startedAt = performance.now();
    this.recorder.start();
  }

  async stop() {
    this.recorder.stop();
    await this.stopped;
    for (const track of this.stream.getTracks()) track.stop();
    const type = this.recorder.mimeType || "audio/webm";
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const seconds = (performance.now() - this.startedAt) / 1000;
    return { file: new File(this.parts, `recording.${extension}`, { type }), seconds };
  }
}

// Wires a Record button: toggles recording; `onRecorded({file, seconds})` gets the result (null while recording).
function recordButton(button, status, onRecorded) {
  const recorder = new Recorder();
  if (!recorder.supported) {
    button.disabled = true;
    button.title = "This browser cannot record here (it needs HTTPS or localhost and a microphone)";
    return;
  }
  const say = (text) => {
    status.textContent = text;
    status.hidden = false;
  };
  button.addEventListener("click", async () => {
    if (recorder.recording) {
      const recorded = await recorder.stop();
      button.textContent = "Record";
      button.setAttribute("aria-pressed", "false");
      say(`Recording of ${recorded.seconds.toFixed(1)} s ready (used instead of a file).`);
      onRecorded(recorded);
      return;
    }
    try {
      await recorder.start();
    } catch (error) {
      say(`Could not record: ${error.message}`);
      return;
    }
    onRecorded(null);
    button.textContent = "Stop recording";
    button.setAttribute("aria-pressed", "true");
    say("Recording… press again to stop.");
  });
}

// Wires `form`'s file input (name="file"), its Record button ([data-record-for]) and the recording's status
// line ([data-recording-for]). Returns a function that gives the clip to send: the recording, else the chosen
// file, else undefined.
export function clipInput(form) {
  const input = form.elements.file;
  const status = form.querySelector("[data-recording-for]");
  let recording = null;
  recordButton(form.querySelector("[data-record-for]"), status, (recorded) => (recording = recorded));
  input.addEventListener("change", () => {
    recording = null;
    status.hidden = true;
  });
  return () => recording?.file || input.files[0];
}

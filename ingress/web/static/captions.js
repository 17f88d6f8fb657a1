// Captions: the words of /dev/captioned_speech as they arrive, and which of them is being said.

import { element } from "./state.js";

export class Captions {
  constructor(root) {
    this.root = root;
    this.words = []; // {word, start_time, end_time, node}
  }

  reset(shown) {
    this.words = [];
    this.root.replaceChildren();
    this.root.hidden = !shown;
    this.root.dataset.word = "";
  }

  add(timestamps) {
    for (const stamp of timestamps) {
      const node = element("span", { className: "word", textContent: stamp.word });
      node.dataset.start = stamp.start_time;
      node.dataset.end = stamp.end_time;
      this.root.append(node, " ");
      this.words.push({ ...stamp, node });
    }
  }

  // Marks the words said by `position` (seconds of audio heard) and the one being said; returns that word or null.
  highlight(position) {
    let current = null;
    for (const word of this.words) {
      const started = word.start_time <= position;
      const now = started && position < word.end_time;
      word.node.classList.toggle("said", started && !now);
      word.node.classList.toggle("now", now && current === null);
      if (now && current === null) current = word;
    }
    this.root.dataset.word = current ? current.word : "";
    return current ? current.word : null;
  }
}

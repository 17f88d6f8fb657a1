// Tag buttons for a model that reads tags in its text (Chatterbox Turbo's [laugh], [sigh], ...): shown only while
// it is chosen; a click puts the tag where the cursor is in the text box.

import { engineSpec, chosenEngine } from "./models.js";
import { $, element, events } from "./state.js";

export function setupTags(form) {
  const tags = $("#tags");
  const input = form.elements.input;

  events.addEventListener("engine", () => {
    const offered = engineSpec(chosenEngine(form)).tags || [];
    tags.replaceChildren(...offered.map((tag) => {
      const button = element("button", { type: "button", textContent: tag });
      button.dataset.tag = tag;
      return button;
    }));
    tags.hidden = !offered.length;
  });

  // The text box keeps its selection while the button has focus: the tag replaces it, the cursor goes after it.
  tags.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-tag]");
    if (!button) return;
    input.setRangeText(button.dataset.tag, input.selectionStart, input.selectionEnd, "end");
    input.focus();
  });
}

// API errors shown where they belong: the message next to the field named by the error's `param`.

function slotFor(scope, param) {
  const find = (name) => scope.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  if (param) {
    // "voice.id" -> "voice": a nested field belongs to its input.
    const slot = find(param) || find(String(param).split(".")[0]);
    if (slot) return slot;
  }
  return find("_form");
}

export function clearErrors(scope) {
  for (const slot of scope.querySelectorAll("[data-error-for]")) {
    slot.textContent = "";
    slot.hidden = true;
    delete slot.dataset.status;
  }
  for (const input of scope.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// Shows `error` (an ApiError or any Error) in `scope`, at the slot of its `param` unless told which; returns the
// element it went into.
export function showError(scope, error, slot = slotFor(scope, error.param)) {
  if (error.status === 401) {
    // A missing or wrong key: say so at the key field too.
    const keySlot = document.querySelector('[data-error-for="api_key"]');
    if (keySlot) {
      keySlot.textContent = error.message;
      keySlot.hidden = false;
      keySlot.dataset.status = "401";
    }
  }
  if (!slot) {
    slot = document.createElement("p");
    slot.className = "field-error";
    slot.dataset.errorFor = "_form";
    slot.setAttribute("role", "alert");
    scope.append(slot);
  }
  slot.textContent = error.message;
  slot.hidden = false;
  slot.dataset.status = String(error.status ?? "");
  if (error.param) {
    const input = scope.querySelector(`[name="${CSS.escape(String(error.param).split(".")[0])}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
  }
  return slot;
}

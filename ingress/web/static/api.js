// Calls to the gateway's API. Every URL is relative to where this module was served from
// (<root>/web/static/api.js), so the page works at / and under a route prefix alike.

export const apiRoot = new URL("../../", import.meta.url);

const KEY_STORAGE = "chorus.apiKey";

// The key lives in sessionStorage only: it is gone when the tab closes.
export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export function apiUrl(path) {
  return new URL(path.replace(/^\/+/, ""), apiRoot);
}

// An error in the API's shape, {"error": {"message", "type", "param", "code"}}, with its HTTP status.
export class ApiError extends Error {
  constructor(status, detail = {}) {
    super(detail.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.type = detail.type ?? null;
    this.param = detail.param ?? null;
    this.code = detail.code ?? null;
  }

  static async from(response) {
    let detail = null;
    try {
      detail = (await response.json()).error;
    } catch {
      // Not JSON (a proxy's page, say): the status line is all there is.
    }
    if (!detail || typeof detail.message !== "string") {
      detail = { message: `HTTP ${response.status} ${response.statusText}`.trim() };
    }
    return new ApiError(response.status, detail);
  }
}

// fetch() with the bearer key; resolves to the Response when it is 2xx, throws an ApiError otherwise.
export async function call(path, { method = "GET", json, form, signal, headers = {} } = {}) {
  const sent = new Headers(headers);
  const key = apiKey();
  if (key) sent.set("Authorization", `Bearer ${key}`);
  let body;
  if (json !== undefined) {
    sent.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets the multipart boundary
  }
  let response;
  try {
    response = await fetch(apiUrl(path), { method, headers: sent, body, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: `Could not reach the gateway: ${error.message}` });
  }
  if (!response.ok) throw await ApiError.from(response);
  return response;
}

export async function callJson(path, options) {
  return (await call(path, options)).json();
}

// GET /health answers 503 (with the same body) when no engine is ready: both are an answer here.
export async function health() {
  const response = await fetch(apiUrl("health"), { cache: "no-store" });
  try {
    return await response.json();
  } catch {
    throw new ApiError(response.status, { message: `GET /health: HTTP ${response.status}` });
  }
}

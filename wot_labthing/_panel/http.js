// Every request of the panel goes through here: credentials, problem+json errors, and
// event streams read with fetch() (EventSource cannot send an Authorization header).

const STORE = "wot-labthing-panel-credentials";
const credentials = new Map(JSON.parse(sessionStorage.getItem(STORE) || "[]")); // origin -> {scheme, ...}
const hints = new Map(); // origin -> scheme named by a TD's securityDefinitions
const prompts = new Map(); // origin -> pending dialog promise (one dialog per origin)

/** An answer that was not a success, with its RFC 9457 problem (or one made from the status). */
export class ProblemError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** The user closed the credentials dialog. */
export class AuthCancelled extends Error {}

/** Remember which scheme a TD asks for, so a 401 without a readable challenge still prompts right. */
export function noteSecurity(td, tdUrl) {
  const names = [].concat(td.security || []);
  const defs = td.securityDefinitions || {};
  const schemes = names.flatMap((n) => (defs[n]?.scheme === "combo" ? [] : [defs[n]?.scheme]));
  const scheme = schemes.find((s) => s === "basic" || s === "bearer");
  if (scheme) {
    hints.set(new URL(tdUrl, location.href).origin, scheme);
    const base = td.base ? new URL(td.base, tdUrl).origin : null;
    if (base) hints.set(base, scheme);
  }
}

function schemeOf(challenge, origin) {
  const word = (challenge || "").trim().split(/\s+/)[0].toLowerCase();
  if (word === "basic" || word === "bearer") return word;
  return hints.get(origin) || "basic";
}

function authorization(origin) {
  const c = credentials.get(origin);
  if (!c) return null;
  if (c.scheme === "bearer") return `Bearer ${c.token}`;
  const bytes = new TextEncoder().encode(`${c.user}:${c.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

function askCredentials(origin, challenge, failed) {
  if (!prompts.has(origin)) {
    const shown = showDialog(origin, schemeOf(challenge, origin), failed).finally(() =>
      prompts.delete(origin),
    );
    prompts.set(origin, shown);
  }
  return prompts.get(origin);
}

function showDialog(origin, scheme, failed) {
  const dialog = document.getElementById("login");
  const form = dialog.querySelector("form");
  form.reset();
  dialog.querySelector("#login-origin").textContent = origin;
  dialog.querySelector("#login-failed").hidden = !failed;
  form.elements.scheme.value = scheme;
  const sync = () => {
    const bearer = form.elements.scheme.value === "bearer";
    dialog.querySelector("#login-basic").hidden = bearer;
    dialog.querySelector("#login-bearer").hidden = !bearer;
  };
  sync();
  form.elements.scheme.onchange = sync;
  dialog.querySelector("#login-cancel").onclick = () => dialog.close();
  return new Promise((resolve, reject) => {
    const done = (event) => {
      event.preventDefault();
      const f = form.elements;
      const entry =
        f.scheme.value === "bearer"
          ? { scheme: "bearer", token: f.token.value }
          : { scheme: "basic", user: f.user.value, password: f.password.value };
      credentials.set(origin, entry);
      sessionStorage.setItem(STORE, JSON.stringify([...credentials]));
      cleanup();
      dialog.close();
      resolve();
    };
    const cancel = () => {
      cleanup();
      reject(new AuthCancelled(`no credentials given for ${origin}`));
    };
    const cleanup = () => {
      form.removeEventListener("submit", done);
      dialog.removeEventListener("close", cancel);
    };
    form.addEventListener("submit", done);
    dialog.addEventListener("close", cancel);
    dialog.showModal();
    (scheme === "bearer" ? form.elements.token : form.elements.user).focus();
  });
}

/**
 * fetch() with the session's credentials; a 401 asks the user and tries again.
 * With anonymous: true the first try goes without credentials: TDs are often public and
 * served without CORS preflight support, which an Authorization header would need.
 */
export async function request(url, { method = "GET", body, accept, signal, headers, anonymous } = {}) {
  const target = new URL(url, location.href);
  for (let attempt = 0; ; attempt++) {
    const h = new Headers(headers || {});
    h.set("Accept", accept || "application/json, application/problem+json");
    const auth = anonymous && attempt === 0 ? null : authorization(target.origin);
    if (auth) h.set("Authorization", auth);
    if (body !== undefined) h.set("Content-Type", "application/json");
    const response = await fetch(target, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
    if (response.status !== 401 || attempt >= 5) return response;
    await response.body?.cancel();
    if (!auth && authorization(target.origin)) continue; // try the credentials we have first
    await askCredentials(target.origin, response.headers.get("WWW-Authenticate"), auth !== null);
  }
}

/** The problem of a failed answer: its problem+json, or a title made from the status. */
export async function problemOf(response) {
  const text = await response.text();
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) return value;
  } catch {
    /* not JSON: fall through */
  }
  return { title: `${response.status} ${response.statusText}`.trim(), detail: text.slice(0, 500) };
}

/** The JSON body of a successful answer (undefined when empty); a ProblemError otherwise. */
export async function json(response) {
  if (!response.ok) throw new ProblemError(response.status, await problemOf(response));
  const text = await response.text();
  return text === "" ? undefined : JSON.parse(text);
}

export async function getJson(url, options) {
  return json(await request(url, options));
}

/**
 * Keep a stream open: call connect(signal, wasDown) again and again until closed; returns
 * { close }. connect resolves true to connect again at once, false to wait first; a throw
 * reports onState("down", error) and waits. Waits double from firstDelay() to 10 s and
 * start over after each connect that resolved; a cancelled login dialog stops for good.
 */
function keepConnected(connect, onState, firstDelay = () => 1000) {
  let controller = null;
  let closed = false;
  const run = async () => {
    let delay = firstDelay();
    let down = false;
    while (!closed) {
      controller = new AbortController();
      try {
        const again = await connect(controller.signal, down);
        down = false;
        delay = firstDelay();
        if (again) continue;
      } catch (error) {
        if (closed) break;
        down = true;
        onState("down", error);
        if (error instanceof AuthCancelled) return;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 10000);
    }
  };
  run();
  return {
    close() {
      closed = true;
      controller?.abort();
      onState("closed");
    },
  };
}

/**
 * Follow a text/event-stream with fetch(), reconnecting with back-off; returns { close }.
 * onEvent({ event, data, id }) gets each message, onState("open" | "down" | "closed", error).
 */
export function openSse(url, { onEvent, onState = () => {} }) {
  let lastId = null;
  let retry = 1000;
  const connect = async (signal) => {
    const headers = lastId ? { "Last-Event-ID": lastId } : {};
    const response = await request(url, { accept: "text/event-stream", signal, headers });
    if (!response.ok) throw new ProblemError(response.status, await problemOf(response));
    onState("open");
    await readEvents(response.body, (message) => {
      if (message.id) lastId = message.id;
      if (message.retry) retry = message.retry;
      if (message.data !== undefined) onEvent(message);
    });
    if (!signal.aborted) onState("down", new Error("stream ended"));
    return false; // reconnect after the server's retry delay
  };
  return keepConnected(connect, onState, () => retry);
}

/** Parse an event stream body (WHATWG "server-sent events" rules) into messages. */
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = {};
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) message.data = data.join("\n");
        if (message.data !== undefined || message.id || message.retry) dispatch(message);
        message = {};
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? "" : line.slice(colon + 1);
      if (text.startsWith(" ")) text = text.slice(1);
      if (field === "data") data.push(text);
      else if (field === "event") message.event = text;
      else if (field === "id") message.id = text;
      else if (field === "retry" && /^\d+$/.test(text)) message.retry = Number(text);
    }
  }
}

/** Long polling (node-wot's observe form): each answer is the next value; same interface. */
export function openLongPoll(url, { onEvent, onState = () => {} }) {
  const connect = async (signal, wasDown) => {
    // the answer only comes with the next value: the stream counts as up while waiting
    if (!wasDown) onState("open");
    const response = await request(url, { signal });
    if (!response.ok) throw new ProblemError(response.status, await problemOf(response));
    if (wasDown) onState("open");
    const text = await response.text();
    if (text !== "") onEvent({ data: text });
    return true; // poll again at once
  };
  return keepConnected(connect, onState);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

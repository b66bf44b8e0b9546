// The control panel: the list of Things (from the servient's directory TD) or one Thing's
// page, built at run time from its TD so any WoT Thing gets a panel without extra code.
import {
  ProblemError,
  getJson,
  json,
  noteSecurity,
  openLongPoll,
  openSse,
  problemOf,
  request,
} from "./http.js";
import { LivePlot } from "./plot.js";
import { field, h, inputForm, isNumeric, isNumericArray, show, uid } from "./schema.js";

const params = new URLSearchParams(location.search);
const POLL_SECONDS = Number(params.get("poll") ?? 2); // re-read of non-observable properties
const HISTORY = Number(params.get("history") ?? 2000); // points kept per plot
const TERMINAL = new Set(["completed", "failed", "cancelled", "canceled", "error"]);
const main = document.getElementById("main");
const streamBadge = document.getElementById("streams");

// Figures the benchmark and tests read: values received and value renders done.
const stats = (window.wlPanel = { events: 0, renders: 0, ready: false });

/** The page is built (tests and the benchmark wait for html[data-ready]). */
function markReady() {
  stats.ready = true;
  document.documentElement.dataset.ready = "true";
}

/** A short text for an error: a problem's "title: detail", or the message. */
function describe(error) {
  if (error instanceof ProblemError) {
    const { title, detail } = error.problem;
    return [title, detail].filter(Boolean).join(": ") || error.message;
  }
  return error?.message || String(error);
}

// ---------------------------------------------------------------- forms of a TD

const DEFAULT_OPS = {
  property: ["readproperty", "writeproperty"],
  action: ["invokeaction"],
  event: ["subscribeevent", "unsubscribeevent"],
};
const METHODS = {
  readproperty: "GET",
  writeproperty: "PUT",
  invokeaction: "POST",
  queryaction: "GET",
  cancelaction: "DELETE",
  readallproperties: "GET",
  queryallactions: "GET",
};

class Td {
  constructor(td, url) {
    this.td = td;
    this.url = url;
    this.base = new URL(td.base || url, url);
  }

  /** The first usable HTTP form of an affordance (or the Thing, kind "thing") for op. */
  form(affordance, kind, op, subprotocol) {
    const forms = (affordance?.forms || []).filter((form) => {
      const ops = [].concat(form.op || DEFAULT_OPS[kind] || []);
      const href = new URL(form.href, this.base);
      return (
        ops.includes(op) &&
        /^https?:$/.test(href.protocol) &&
        (!form.contentType || form.contentType.startsWith("application/json")) &&
        (subprotocol === undefined || form.subprotocol === subprotocol)
      );
    });
    return forms[0] || null;
  }

  /** The form's URL with its URI template (RFC 6570 {name} and {?a,b}) filled from variables. */
  href(form, variables = {}) {
    const href = form.href.replace(/\{([?&]?)([^}]+)\}/g, (_, operator, names) => {
      if (!operator) return encodeURIComponent(variables[names] ?? "");
      const pairs = names
        .split(",")
        .filter((name) => variables[name] !== undefined)
        .map((name) => `${encodeURIComponent(name)}=${encodeURIComponent(variables[name])}`);
      return pairs.length ? operator + pairs.join("&") : "";
    });
    return new URL(href, this.base).href;
  }

  method(form, op) {
    return form["htv:methodName"] || METHODS[op] || "GET";
  }

  /** A stream of an observe/subscribe op: SSE when offered, long polling otherwise. */
  stream(affordance, kind, op, handlers) {
    const sse = this.form(affordance, kind, op, "sse");
    if (sse) return openSse(this.href(sse), handlers);
    const poll = this.form(affordance, kind, op, "longpoll") || this.form(affordance, kind, op);
    if (poll) return openLongPoll(this.href(poll), handlers);
    return null;
  }
}

// ---------------------------------------------------------------- stream indicator

const streams = new Map(); // name -> "open" | "down"

function streamState(name, state, error) {
  if (state === "closed") streams.delete(name);
  else streams.set(name, state);
  const down = [...streams].filter(([, s]) => s === "down").map(([n]) => n);
  if (!streams.size) {
    streamBadge.hidden = true;
    return;
  }
  streamBadge.hidden = false;
  streamBadge.dataset.state = down.length ? "down" : "up";
  streamBadge.textContent = down.length
    ? `Stream down, reconnecting: ${down.join(", ")}`
    : `Live (${streams.size} stream${streams.size > 1 ? "s" : ""})`;
  if (error && state === "down") streamBadge.title = describe(error);
}

// ---------------------------------------------------------------- the list of Things

/** The Things of a directory TD (this servient's own, or one opened by URL). */
async function showList(directoryUrl = new URL("/.well-known/wot", location.href).href, known) {
  const here = directoryUrl === new URL("/.well-known/wot", location.href).href;
  document.title = "Things · wot-labthing panel";
  main.append(h("h1", { text: here ? "Things" : `Things at ${new URL(directoryUrl).host}` }));
  const list = h("ul", { class: "things", "aria-busy": "true" });
  main.append(list);
  try {
    const directory = known || (await getJson(directoryUrl, { anonymous: true }));
    noteSecurity(directory, directoryUrl);
    const items = (directory.links || []).filter((link) => link.rel === "item");
    const tds = await Promise.all(
      items.map(async (link) => {
        const url = new URL(link.href, directory.base || directoryUrl).href;
        try {
          return [url, await getJson(url, { anonymous: true })];
        } catch (error) {
          return [url, null, error];
        }
      }),
    );
    for (const [url, td, error] of tds) list.append(thingCard(url, td, error));
    if (!tds.length) list.append(h("li", { text: "This servient exposes no Things." }));
  } catch (error) {
    list.append(h("li", { class: "error", text: `Could not read the directory: ${describe(error)}` }));
  }
  list.removeAttribute("aria-busy");
  markReady();
}

function thingCard(url, td, error) {
  const link = h("a", { href: `?td=${encodeURIComponent(url)}`, text: td?.title || url });
  const counts = td
    ? ["properties", "actions", "events"]
        .map((kind) => `${Object.keys(td[kind] || {}).length} ${kind}`)
        .join(" · ")
    : `could not load: ${describe(error)}`;
  return h(
    "li",
    { class: "card thing-card" },
    h("h2", {}, link),
    td?.description ? h("p", { class: "description", text: firstSentence(prose(td.description)) }) : null,
    h("p", { class: "hint", text: counts }),
  );
}

/** Docstring text is hard-wrapped: keep its paragraph breaks, join the lines of each. */
const prose = (text) => text.replace(/([^\n])\n(?!\n)/g, "$1 ");

const firstSentence = (text) => (text.length > 240 ? text.slice(0, 237) + "…" : text);

// ---------------------------------------------------------------- one Thing

async function showThing(tdUrl) {
  const url = new URL(tdUrl, location.href).href;
  main.append(h("p", { class: "crumbs" }, h("a", { href: "./", text: "← All Things" })));
  let td;
  try {
    td = await getJson(url, { accept: "application/td+json, application/json", anonymous: true });
  } catch (error) {
    if (new URL(url).pathname === "/" && !(error instanceof ProblemError && error.status === 401)) {
      // a servient's root URL: its directory TD is at the WoT Discovery well-known path
      main.replaceChildren();
      return showList(new URL("/.well-known/wot", url).href);
    }
    main.append(h("p", { class: "error", role: "alert", text: `Could not load ${url}: ${describe(error)}` }));
    markReady();
    return;
  }
  if ([].concat(td["@type"] || []).includes("ThingDirectory")) {
    main.replaceChildren();
    return showList(url, td);
  }
  noteSecurity(td, url);
  const thing = new Td(td, url);
  document.title = `${td.title || url} · wot-labthing panel`;
  const scheme = [].concat(td.security || []).map((n) => td.securityDefinitions?.[n]?.scheme);
  main.append(
    h("h1", { text: td.title || url }),
    td.description ? h("p", { class: "description", text: prose(td.description) }) : "",
    h("p", { class: "hint" }, h("a", { href: url, text: "Thing Description" }), ` · security: ${scheme.join(", ") || "none"}`),
  );
  const properties = new PropertiesView(thing);
  const actions = new ActionsView(thing);
  const events = new EventsView(thing);
  for (const view of [properties, actions, events]) if (view.element) main.append(view.element);
  markReady();
  await Promise.allSettled([properties.start(), actions.start(), events.start()]);
}

// ---------------------------------------------------------------- properties

class PropertiesView {
  constructor(thing) {
    this.thing = thing;
    this.rows = new Map();
    const entries = Object.entries(thing.td.properties || {});
    if (!entries.length) return;
    const grid = h("div", { class: "grid" });
    this.element = h("section", { "aria-labelledby": "properties-heading" }, h("h2", { id: "properties-heading", text: "Properties" }), grid);
    for (const [name, affordance] of entries) {
      const row = new PropertyRow(thing, name, affordance);
      this.rows.set(name, row);
      grid.append(row.element);
    }
  }

  async start() {
    if (!this.rows.size) return;
    await this.readAll(true);
    this.observe();
    if (POLL_SECONDS > 0) this.poll();
  }

  /** Read every readable property (one readallproperties request when the TD offers it). */
  async readAll(everything) {
    const wanted = [...this.rows.values()].filter((row) => row.readable && (everything || !row.observed));
    const all = this.thing.form(this.thing.td, "thing", "readallproperties");
    if (all) {
      try {
        const values = await getJson(this.thing.href(all));
        for (const row of wanted) if (row.name in values) row.show(values[row.name], true);
        return;
      } catch {
        /* fall back to one read each, which shows each property's own error */
      }
    }
    await Promise.allSettled(wanted.map((row) => row.read()));
  }

  /** One stream for every observable property when the Thing has one, else one each. */
  observe() {
    const observable = [...this.rows.values()].filter((row) => row.affordance.observable);
    if (!observable.length) return;
    const all = this.thing.form(this.thing.td, "thing", "observeallproperties", "sse");
    if (all) {
      openSse(this.thing.href(all), {
        onEvent: (message) => this.rows.get(message.event)?.arrived(message.data),
        onState: (state, error) => streamState("properties", state, error),
      });
      observable.forEach((row) => (row.observed = true));
      return;
    }
    for (const row of observable) {
      const stream = this.thing.stream(row.affordance, "property", "observeproperty", {
        onEvent: (message) => row.arrived(message.data),
        onState: (state, error) => streamState(row.name, state, error),
      });
      if (stream) row.observed = true;
    }
  }

  /** Non-observable properties cannot tell us they changed: re-read them while visible. */
  async poll() {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, POLL_SECONDS * 1000));
      if (!document.hidden) await this.readAll(false);
    }
  }
}

class PropertyRow {
  constructor(thing, name, affordance) {
    this.thing = thing;
    this.name = name;
    this.affordance = affordance;
    this.observed = false;
    this.readable = !affordance.writeOnly && thing.form(affordance, "property", "readproperty");
    this.writeForm = affordance.readOnly ? null : thing.form(affordance, "property", "writeproperty");
    this.value = undefined;
    this.scheduled = false;
    const id = uid(`prop-${name}`);
    this.output = h("output", { id: `${id}-value`, class: "value", "aria-live": "off", text: "…" });
    if (!this.readable) this.output.textContent = "(write-only)";
    const unit = affordance.unit ? h("span", { class: "unit", text: ` ${affordance.unit}` }) : null;
    this.element = h(
      "article",
      { class: "card property", "data-property": name },
      h("h3", { text: affordance.title || name }),
      affordance.description ? h("p", { class: "description", text: prose(affordance.description) }) : null,
      h("p", { class: "current" }, h("span", { class: "hint", text: "value: " }), this.output, unit),
    );
    if (this.writeForm) {
      this.field = field(affordance, `New ${affordance.title || name}`, { id: `${id}-input` });
      this.status = h("span", { class: "hint write-status", role: "status" });
      this.element.append(
        h(
          "form",
          { class: "write", novalidate: true, onsubmit: (event) => this.write(event) },
          this.field.element,
          h("button", { type: "submit", text: "Write" }),
          this.status,
        ),
      );
    }
    if (affordance.observable && (isNumeric(affordance) || isNumericArray(affordance))) {
      this.plot = new LivePlot(name, { history: HISTORY });
      this.element.append(this.plot.element);
    }
  }

  async read() {
    const form = this.thing.form(this.affordance, "property", "readproperty");
    try {
      const response = await request(this.thing.href(form), { method: this.thing.method(form, "readproperty") });
      this.show(await json(response), true);
    } catch (error) {
      this.output.textContent = `error: ${describe(error)}`;
      this.output.classList.add("error");
    }
  }

  /** A value from a stream (JSON text). */
  arrived(data) {
    let value;
    try {
      value = JSON.parse(data);
    } catch {
      value = data;
    }
    stats.events += 1;
    this.show(value, false);
  }

  show(value, fromRead) {
    this.value = value;
    this.output.classList.remove("error");
    if (this.plot && (!fromRead || !this.plot.times.length)) this.plot.add(value);
    if (this.field && document.activeElement !== this.field.input && !this.field.input.dataset.dirty) {
      this.field.set(value);
    }
    // render at most once per frame: a 100 Hz property must not queue up DOM work
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => {
        this.scheduled = false;
        this.output.textContent = show(this.value);
        this.output.dataset.value = JSON.stringify(this.value ?? null);
        stats.renders += 1;
      });
    }
  }

  async write(event) {
    event.preventDefault();
    this.field.error("");
    this.status.textContent = "";
    let value;
    try {
      value = this.field.get();
    } catch (error) {
      this.field.error(`Not valid JSON: ${error.message}`);
      return;
    }
    try {
      const response = await request(this.thing.href(this.writeForm), {
        method: this.thing.method(this.writeForm, "writeproperty"),
        body: value === undefined ? null : value,
      });
      await json(response);
      delete this.field.input.dataset.dirty;
      this.status.textContent = "written";
      if (this.readable) await this.read();
      else this.show(value, true);
    } catch (error) {
      const pointer = error.problem?.pointer;
      this.field.error(describe(error) + (pointer ? ` (at ${pointer})` : ""));
    }
  }
}

// ---------------------------------------------------------------- actions

class ActionsView {
  constructor(thing) {
    this.thing = thing;
    this.cards = new Map();
    const entries = Object.entries(thing.td.actions || {});
    if (!entries.length) return;
    const grid = h("div", { class: "grid" });
    this.element = h("section", { "aria-labelledby": "actions-heading" }, h("h2", { id: "actions-heading", text: "Actions" }), grid);
    for (const [name, affordance] of entries) {
      const card = new ActionCard(thing, name, affordance);
      this.cards.set(name, card);
      grid.append(card.element);
    }
  }

  /** Show the runs already going (started by anyone), and keep looking for new ones. */
  async start() {
    const form = this.cards.size && this.thing.form(this.thing.td, "thing", "queryallactions");
    if (!form) return;
    for (;;) {
      try {
        const all = await getJson(this.thing.href(form));
        const records = Array.isArray(all) ? all : Object.values(all || {}).flat();
        for (const record of records) {
          if (record && !TERMINAL.has(record.status)) this.cards.get(record.action)?.track(record);
        }
      } catch {
        /* the next round tries again */
      }
      if (POLL_SECONDS <= 0) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_SECONDS * 1000));
    }
  }
}

class ActionCard {
  constructor(thing, name, affordance) {
    this.thing = thing;
    this.name = name;
    this.affordance = affordance;
    this.runs = new Map();
    const id = uid(`action-${name}`);
    this.form = inputForm(affordance.input, id);
    this.message = h("div", { class: "action-result", role: "status" });
    this.runList = h("ol", { class: "runs", "aria-label": `runs of ${name}` });
    this.button = h("button", { type: "submit", text: affordance.title || name });
    this.element = h(
      "article",
      { class: "card action", "data-action": name },
      h("h3", { text: affordance.title || name }),
      affordance.description ? h("p", { class: "description", text: prose(affordance.description) }) : null,
      h("form", { novalidate: true, onsubmit: (event) => this.invoke(event) }, this.form.element, this.button),
      this.message,
      this.runList,
    );
  }

  async invoke(event) {
    event.preventDefault();
    this.form.clear();
    this.message.replaceChildren();
    let input;
    try {
      input = this.form.get();
    } catch (error) {
      this.message.append(h("p", { class: "error", text: `Input is not valid JSON: ${error.message}` }));
      return;
    }
    const form = this.thing.form(this.affordance, "action", "invokeaction");
    this.button.disabled = true;
    try {
      const response = await request(this.thing.href(form), {
        method: this.thing.method(form, "invokeaction"),
        body: this.affordance.input ? input ?? null : undefined,
      });
      const body = await json(response);
      if (isRecord(body)) this.track(body);
      else this.message.append(h("p", {}, h("span", { class: "hint", text: "output: " }), h("code", { class: "output", text: show(body) })));
    } catch (error) {
      const problem = error.problem || {};
      if (!(problem.pointer && this.form.error(problem.pointer, problem.detail || problem.title))) {
        this.message.append(problemBox(error));
      }
    } finally {
      this.button.disabled = false;
    }
  }

  /** Show a run and follow it to its end (its SSE link, else by polling its record). */
  track(record) {
    if (this.runs.has(record.id)) return;
    const run = new RunView(this.thing, this.affordance, record);
    this.runs.set(record.id, run);
    this.runList.prepend(run.element);
    while (this.runList.children.length > 10) {
      this.runs.delete(this.runList.lastElementChild.dataset.run);
      this.runList.lastElementChild.remove();
    }
  }
}

const isRecord = (body) =>
  body && typeof body === "object" && !Array.isArray(body) && typeof body.status === "string" && ("href" in body || "id" in body);

// A run's stream sends full records (they have timeRequested) and deltas in between:
// changed members, new log entries in logAppend and new data items in dataAppend.
function mergeRunUpdate(previous, message) {
  if ("timeRequested" in message || !previous) return message;
  const { logAppend, dataAppend, ...changed } = message;
  const merged = { ...previous, ...changed };
  if (logAppend) merged.log = [...(previous.log || []), ...logAppend].slice(-1000);
  if (dataAppend) {
    const data = previous.data === undefined ? [] : Array.isArray(previous.data) ? previous.data : [previous.data];
    merged.data = [...data, ...dataAppend];
  }
  return merged;
}

function problemBox(error) {
  const problem = error.problem || { title: "Request failed", detail: describe(error) };
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("strong", { text: problem.title || "Error" }),
    problem.detail ? h("p", { text: problem.detail }) : null,
  );
}

let runStreams = 0; // browsers allow 6 connections per host: follow at most 2 runs by SSE

class RunView {
  constructor(thing, affordance, record) {
    this.thing = thing;
    this.affordance = affordance;
    this.status = h("span", { class: "status" });
    this.progress = h("progress", { max: 100, "aria-label": `progress of run ${record.id}` });
    this.percent = h("span", { class: "percent" });
    this.log = h("ul", { class: "log", "aria-label": "log" });
    this.result = h("div", { class: "result" });
    this.cancel = h("button", { type: "button", class: "cancel", text: "Cancel", onclick: () => this.cancelRun() });
    this.element = h(
      "li",
      { class: "run", "data-run": record.id },
      h("p", {}, h("code", { text: record.id.slice(0, 8) }), " ", this.status, " ", this.cancel),
      h("div", { class: "progress-row" }, this.progress, this.percent),
      this.log,
      this.result,
    );
    this.update(record);
    if (!TERMINAL.has(record.status)) this.follow();
  }

  get selfHref() {
    const self = (this.record.links || []).find((link) => link.rel === "self");
    return new URL(self?.href || this.record.href, this.thing.base).href;
  }

  update(record) {
    this.record = record;
    const cancelled = record.status === "cancelled" || /cancel/i.test(record.error?.type || "");
    const status = cancelled ? "cancelled" : record.status;
    this.element.dataset.status = status;
    this.status.textContent = status;
    const progress = typeof record.progress === "number" ? record.progress : record.status === "completed" ? 100 : null;
    if (progress === null) this.progress.removeAttribute("value");
    else this.progress.value = progress;
    this.percent.textContent = progress === null ? "" : `${Math.round(progress)} %`;
    this.log.replaceChildren(
      ...(record.log || []).slice(-20).map((line) => h("li", { text: `${line.time || ""} ${line.level || ""} ${line.message ?? show(line)}`.trim() })),
    );
    this.result.replaceChildren();
    if (record.status === "completed" && record.output !== undefined && record.output !== null) {
      this.result.append(h("span", { class: "hint", text: "output: " }), h("code", { class: "output", text: show(record.output) }));
    }
    if (record.error) this.result.append(problemBox({ problem: record.error }));
    this.cancel.hidden = TERMINAL.has(record.status) || !this.cancelForm();
  }

  cancelForm() {
    const self = (this.record.links || []).find((link) => link.rel === "self");
    if (self && (!self.methods || self.methods.includes("DELETE"))) return { href: this.selfHref, method: "DELETE" };
    const form = this.thing.form(this.affordance, "action", "cancelaction");
    if (!form) return null;
    return { href: this.thing.href(form, { actionID: this.record.id }), method: this.thing.method(form, "cancelaction") };
  }

  follow() {
    const link = (this.record.links || []).find((l) => l.rel === "events");
    if (link && runStreams < 2) {
      runStreams += 1;
      const name = `run ${this.record.id.slice(0, 8)}`;
      const stream = openSse(new URL(link.href, this.thing.base).href, {
        onEvent: (message) => {
          const update = JSON.parse(message.data);
          if (!isRecord(update)) return;
          const record = mergeRunUpdate(this.record, update);
          this.update(record);
          if (TERMINAL.has(record.status)) {
            stream.close();
            runStreams -= 1;
          }
        },
        onState: (state, error) => streamState(name, state, error),
      });
      return;
    }
    this.poll();
  }

  async poll() {
    while (!TERMINAL.has(this.record.status)) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      try {
        this.update(await getJson(this.selfHref));
      } catch {
        /* keep trying: the stream indicator is for streams, the record shows the last state */
      }
    }
  }

  async cancelRun() {
    const target = this.cancelForm();
    if (!target) return;
    this.cancel.disabled = true;
    try {
      const response = await request(target.href, { method: target.method });
      if (!response.ok && response.status !== 404) throw new ProblemError(response.status, await problemOf(response));
      await response.text();
      this.update(await getJson(this.selfHref));
    } catch (error) {
      this.result.append(problemBox(error));
    } finally {
      this.cancel.disabled = false;
    }
  }
}

// ---------------------------------------------------------------- events

class EventsView {
  constructor(thing) {
    this.thing = thing;
    this.names = Object.keys(thing.td.events || {});
    if (!this.names.length) return;
    this.feed = h("ol", { class: "feed", "aria-live": "polite", "aria-label": "event feed" });
    this.element = h(
      "section",
      { "aria-labelledby": "events-heading" },
      h("h2", { id: "events-heading", text: "Events" }),
      h("p", { class: "hint", text: `Subscribed to: ${this.names.join(", ")}` }),
      this.feed,
    );
  }

  async start() {
    if (!this.names.length) return;
    const all = this.thing.form(this.thing.td, "thing", "subscribeallevents", "sse");
    if (all) {
      openSse(this.thing.href(all), {
        onEvent: (message) => this.add(message.event, message.data),
        onState: (state, error) => streamState("events", state, error),
      });
      return;
    }
    for (const name of this.names) {
      this.thing.stream(this.thing.td.events[name], "event", "subscribeevent", {
        onEvent: (message) => this.add(name, message.data),
        onState: (state, error) => streamState(`event ${name}`, state, error),
      });
    }
  }

  add(name, data) {
    stats.events += 1;
    this.feed.prepend(
      h("li", {}, h("time", { text: new Date().toISOString() }), " ", h("strong", { text: name }), " ", h("code", { text: data })),
    );
    while (this.feed.children.length > 100) this.feed.lastElementChild.remove();
  }
}

// ---------------------------------------------------------------- start

document.getElementById("open-td").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = event.target.elements.url.value.trim();
  if (value) location.search = `?td=${encodeURIComponent(value)}`;
});

if (params.get("td")) {
  document.getElementById("td-url").value = params.get("td");
  showThing(params.get("td"));
} else {
  showList();
}

// Inputs chosen from a JSON Schema (the TD's data schemas): enum -> select, boolean -> switch,
// number/integer -> number input with limits and unit, string -> text, anything else -> JSON.

let counter = 0;
export const uid = (prefix) => `${prefix}-${++counter}`;

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : value);
  }
  element.append(...children.filter((c) => c !== undefined && c !== null && c !== false));
  return element;
}

/** The schema's enumerated values, also when written as oneOf/anyOf of const/enum. */
export function enumOf(schema) {
  if (Array.isArray(schema.enum)) return schema.enum;
  const parts = schema.oneOf || schema.anyOf;
  if (!Array.isArray(parts)) return null;
  const values = [];
  for (const part of parts) {
    if ("const" in part) values.push(part.const);
    else if (Array.isArray(part.enum)) values.push(...part.enum);
    else if (part.type === "null") values.push(null);
    else return null;
  }
  return values;
}

export function isNumeric(schema) {
  return schema && (schema.type === "number" || schema.type === "integer") && !enumOf(schema);
}

export function isNumericArray(schema) {
  return schema && schema.type === "array" && isNumeric(schema.items || {});
}

export const show = (value) =>
  value === undefined ? "—" : typeof value === "string" ? value : JSON.stringify(value);

/** A labelled field for one value: { element, input, get(), set(value), error(message) }. */
export function field(schema, label, { id = uid("f"), required = false, readOnly = false } = {}) {
  schema = schema || {};
  const choices = enumOf(schema);
  const errorId = `${id}-error`;
  const described = [errorId];
  const hint = [schema.unit, limits(schema)].filter(Boolean).join(" · ");
  let input;
  let get;
  let set;
  if (choices) {
    input = h("select", { id });
    if (!required) input.append(h("option", { value: "", text: "" }));
    for (const value of choices) input.append(h("option", { value: JSON.stringify(value), text: show(value) }));
    get = () => (input.value === "" ? undefined : JSON.parse(input.value));
    set = (value) => (input.value = value === undefined ? "" : JSON.stringify(value));
  } else if (schema.type === "boolean") {
    input = h("input", { id, type: "checkbox", role: "switch", class: "switch" });
    get = () => input.checked;
    set = (value) => (input.checked = value === true);
  } else if (schema.type === "number" || schema.type === "integer") {
    input = h("input", {
      id,
      type: "number",
      inputmode: schema.type === "integer" ? "numeric" : "decimal",
      min: schema.minimum ?? schema.exclusiveMinimum,
      max: schema.maximum ?? schema.exclusiveMaximum,
      step: schema.type === "integer" ? schema.multipleOf ?? 1 : schema.multipleOf ?? "any",
      required,
    });
    // the browser does not block out-of-range values: the servient's own check answers them
    get = () => (input.value === "" ? undefined : Number(input.value));
    set = (value) => (input.value = value === undefined || value === null ? "" : String(value));
  } else if (schema.type === "string") {
    input = h("input", {
      id,
      type: "text",
      maxlength: schema.maxLength,
      spellcheck: "false",
      required,
    });
    get = () => input.value;
    set = (value) => (input.value = value ?? "");
  } else {
    input = h("textarea", { id, rows: 2, spellcheck: "false", class: "json", required });
    get = () => (input.value.trim() === "" ? undefined : JSON.parse(input.value));
    set = (value) => (input.value = value === undefined ? "" : JSON.stringify(value));
  }
  if (readOnly) input.disabled = true;
  if (hint) described.push(`${id}-hint`);
  input.setAttribute("aria-describedby", described.join(" "));
  const errorBox = h("p", { id: errorId, class: "field-error", role: "alert" });
  const element = h(
    "div",
    { class: "field" },
    h("label", { for: id, text: label + (required ? " *" : "") }),
    input,
    hint ? h("span", { id: `${id}-hint`, class: "hint", text: hint }) : null,
    errorBox,
  );
  if ("default" in schema) set(schema.default);
  input.addEventListener("input", () => (input.dataset.dirty = "1"));
  return {
    element,
    input,
    get,
    set(value) {
      set(value);
      delete input.dataset.dirty;
    },
    error(message) {
      errorBox.textContent = message || "";
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    },
  };
}

function limits(schema) {
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  if (low !== undefined && high !== undefined) return `${low} to ${high}`;
  if (low !== undefined) return `≥ ${low}`;
  if (high !== undefined) return `≤ ${high}`;
  return "";
}

/**
 * The input form of an action: one field per property of an object schema (so a problem's
 * pointer such as "/x" lands next to its field), or a single field.
 */
export function inputForm(schema, idPrefix) {
  if (!schema) return { element: null, get: () => undefined, error: () => false, clear() {} };
  if (schema.type === "object" && schema.properties) {
    const required = new Set(schema.required || []);
    const fields = Object.entries(schema.properties).map(([name, sub]) => [
      name,
      field(sub, sub.title || name, { id: `${idPrefix}-${name}`, required: required.has(name) }),
    ]);
    return {
      element: h("div", { class: "fields" }, ...fields.map(([, f]) => f.element)),
      get() {
        const value = {};
        for (const [name, f] of fields) {
          const v = f.get();
          if (v !== undefined && !(v === "" && !required.has(name))) value[name] = v;
        }
        return value;
      },
      error(pointer, message) {
        const name = decodeURIComponent((pointer || "").split("/")[1] || "").replace(/~1/g, "/").replace(/~0/g, "~");
        const hit = fields.find(([n]) => n === name);
        if (hit) hit[1].error(message);
        return Boolean(hit);
      },
      clear() {
        for (const [, f] of fields) f.error("");
      },
    };
  }
  const single = field(schema, schema.title || "input", { id: `${idPrefix}-input`, required: true });
  return {
    element: single.element,
    get: single.get,
    error(pointer, message) {
      single.error(message);
      return true;
    },
    clear: () => single.error(""),
  };
}

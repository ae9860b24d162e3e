// The small tools every view gets through ctx: a DOM builder, labels, times, the API.

// ctx.el(tag, attrs, ...children): attrs may hold `class`, `text`, `on<event>` handlers,
// `style` (a string or an object), DOM properties (value, checked, disabled, selected),
// and anything else as attributes (true: present, false/null/undefined: left out).
// Children: nodes, strings, numbers, arrays of them; null, undefined and false are skipped.
// Text always goes in as text, never as HTML.
const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "indeterminate"]);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(name)) node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

// ctx.t(labels, key, vars): labels[lang][key], else the English label, else the key;
// {name} placeholders are filled from vars.
export function translate(lang, labels, key, vars) {
  const text = labels?.[lang]?.[key] ?? labels?.en?.[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

// The language of the console: the one chosen with the switch (remembered), else the
// browser's first Chinese or other language.
const LANG_KEY = "exchange-console.lang";

export function initialLanguage() {
  const chosen = localStorage.getItem(LANG_KEY);
  if (chosen === "en" || chosen === "zh") return chosen;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  return String(preferred[0] || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function rememberLanguage(lang) {
  localStorage.setItem(LANG_KEY, lang);
}

const TIME_FORMATS = {};

export function formatTime(lang, iso) {
  if (!iso) return "—";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  TIME_FORMATS[lang] ??= new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  return TIME_FORMATS[lang].format(when);
}

const UNITS = {
  en: { ms: "ms", s: "s", min: "min", h: "h", d: "d" },
  zh: { ms: "毫秒", s: "秒", min: "分", h: "小时", d: "天" },
};

export function formatDuration(lang, ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "—";
  const u = UNITS[lang] || UNITS.en;
  const value = Math.max(0, Number(ms));
  const sep = lang === "zh" ? "" : " ";
  if (value < 1000) return `${Math.round(value)}${sep}${u.ms}`;
  const s = value / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}${sep}${u.s}`;
  const pair = (big, bigUnit, small, smallUnit) =>
    small ? `${big}${sep}${bigUnit} ${small}${sep}${smallUnit}` : `${big}${sep}${bigUnit}`;
  if (s < 3600) return pair(Math.floor(s / 60), u.min, Math.floor(s % 60), u.s);
  if (s < 86400) return pair(Math.floor(s / 3600), u.h, Math.floor((s % 3600) / 60), u.min);
  return pair(Math.floor(s / 86400), u.d, Math.floor((s % 86400) / 3600), u.h);
}

// A refused API call: .status is the HTTP status, .problem the problem+json answer.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `the hub answered ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

// fetch with the session cookie, a JSON body and the CSRF token on every non-GET;
// paths not starting with "/" are under /console/api/.
export async function request(path, { method = "GET", body, csrf } = {}) {
  const url = path.startsWith("/") ? path : `/console/api/${path}`;
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (failure) {
    throw new ApiError(0, {
      title: "Hub unreachable",
      detail: `the hub did not answer (${failure.message}); check that it runs, then reload`,
    });
  }
  const type = response.headers.get("content-type") || "";
  const parsed = response.status === 204 ? null
    : type.includes("json") ? await response.json().catch(() => null)
    : await response.text();
  if (!response.ok) {
    const problem = parsed && typeof parsed === "object" ? parsed : { detail: String(parsed || response.statusText) };
    throw new ApiError(response.status, problem);
  }
  return parsed;
}

// The console's shell: sign-in, the header and navigation, the language, and hash routing
// to the views in views/<view>.js (each exports title, labels, render(root, params, ctx)
// and optionally dispose()).
//
// ctx, given to every render: api(path, {method, body}) (JSON; the CSRF token on every
// non-GET; throws an Error with .status and .problem; a 401 brings the sign-in page back),
// t(labels, key, vars), lang ("en" | "zh"), user {name, role}, canAct (an operator),
// hub (its name), navigate(hash), formatTime(iso), formatDuration(ms), el(tag, attrs, ...).
import {
  ApiError, el, formatDuration, formatTime, initialLanguage, rememberLanguage, request, translate,
} from "./lib.js";

const LABELS = {
  en: {
    overview: "Overview", topology: "Topology", messages: "Messages", "dead-letters": "Dead letters",
    health: "Health", statistics: "Statistics", message: "Message",
    console: "Console", signIn: "Sign in", signOut: "Sign out", key: "Operator or viewer key",
    keyHint: "Paste the key from `exchange keys create NAME --operator` (or --viewer). It is sent once and never kept in the browser.",
    signingIn: "Signing in…",
    noKey: "Paste a key first.",
    unknownKey: "This key is unknown or revoked: paste an operator or viewer key.",
    senderKey: "A sender key cannot open the console: sign in with an operator or viewer key.",
    sessionEnded: "Your session has ended: sign in again.",
    signedOut: "You are signed out.",
    role_operator: "operator", role_viewer: "viewer",
    language: "Language",
    loading: "Loading…",
    viewFailed: "This page could not be shown: {error}",
    viewMissing: "This page failed to load ({error}). Reload; if it persists, the hub's console files are incomplete.",
    noSuchPage: "There is no page “{name}”.",
    toOverview: "Go to the overview",
    hubDown: "The hub did not answer: {error}. Check that it runs, then reload.",
    retry: "Reload",
  },
  zh: {
    overview: "总览", topology: "拓扑", messages: "消息", "dead-letters": "死信",
    health: "健康", statistics: "统计", message: "消息详情",
    console: "控制台", signIn: "登录", signOut: "退出", key: "运维或只读密钥",
    keyHint: "粘贴 `exchange keys create NAME --operator`（或 --viewer）生成的密钥。密钥只发送一次，浏览器不会保存。",
    signingIn: "正在登录…",
    noKey: "请先粘贴密钥。",
    unknownKey: "密钥无效或已吊销：请粘贴运维或只读密钥。",
    senderKey: "发送方密钥不能打开控制台：请用运维或只读密钥登录。",
    sessionEnded: "会话已结束，请重新登录。",
    signedOut: "您已退出。",
    role_operator: "运维", role_viewer: "只读",
    language: "语言",
    loading: "加载中…",
    viewFailed: "无法显示此页面：{error}",
    viewMissing: "此页面加载失败（{error}）。请刷新；若仍失败，说明控制台文件不完整。",
    noSuchPage: "没有“{name}”这个页面。",
    toOverview: "返回总览",
    hubDown: "交换中心没有响应：{error}。请确认其正在运行后刷新。",
    retry: "刷新",
  },
};

// Hash route -> view module; "#/messages/<hub id>" is the one message's page.
const NAV = ["overview", "topology", "messages", "dead-letters", "health", "statistics"];
const VIEWS = {
  overview: "overview", topology: "topology", messages: "messages", message: "message",
  "dead-letters": "dead-letters", health: "health", statistics: "statistics",
};

const LANGUAGES = [["en", "English"], ["zh", "中文"]];

const state = { lang: initialLanguage(), who: null, current: null, generation: 0 };
const shellRoot = () => document.getElementById("console");
const label = (key, vars) => translate(state.lang, LABELS, key, vars);

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?", 2);
  const segments = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  let name = segments[0] || "overview";
  let rest = segments.slice(1);
  if (name === "messages" && rest.length) name = "message";
  return { name, nav: name === "message" ? "messages" : name, path: rest, query: new URLSearchParams(queryPart) };
}

function makeCtx() {
  const who = state.who;
  return {
    lang: state.lang,
    user: { name: who.name, role: who.role },
    hub: who.hub,
    canAct: who.role === "operator",
    t: (labels, key, vars) => translate(state.lang, labels, key, vars),
    el,
    navigate: (hash) => { location.hash = hash.startsWith("#") ? hash : `#${hash}`; },
    formatTime: (iso) => formatTime(state.lang, iso),
    formatDuration: (ms) => formatDuration(state.lang, ms),
    api: async (path, options = {}) => {
      try {
        return await request(path, { ...options, csrf: state.who?.csrf });
      } catch (error) {
        if (error instanceof ApiError && error.status === 401 && state.who) {
          showSignIn(label("sessionEnded"));
        }
        throw error;
      }
    },
  };
}

function languageSwitch() {
  return el("div", { class: "lang-switch", role: "group", "aria-label": label("language"), "data-test": "language" },
    LANGUAGES.map(([code, name]) => el("button", {
      type: "button", lang: code, "data-test": `lang-${code}`,
      class: code === state.lang ? "active" : null, "aria-pressed": String(code === state.lang),
      onclick: () => setLanguage(code),
    }, name)));
}

function setLanguage(lang) {
  if (lang === state.lang) return;
  state.lang = lang;
  rememberLanguage(lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  if (state.who) { renderShell(); route(); } else showSignIn();
}

// -- sign-in -----------------------------------------------------------------------------

function showSignIn(notice) {
  disposeCurrent();
  state.who = null;
  document.title = `${label("signIn")} · ${label("console")}`;
  const error = el("p", { class: "error", role: "alert", "data-test": "sign-in-error", hidden: !notice },
    notice || "");
  const key = el("input", {
    id: "sign-in-key", type: "password", autocomplete: "off", spellcheck: "false",
    "data-test": "sign-in-key", required: true,
  });
  const button = el("button", { type: "submit", class: "btn primary", "data-test": "sign-in" }, label("signIn"));
  // POST, and the input has no name: even a native submission would carry no key in a URL.
  const form = el("form", { class: "sign-in card", method: "post", action: "/console/api/session",
    "data-test": "sign-in-form", onsubmit: (event) => {
    event.preventDefault();
    signIn(key.value.trim(), { error, button });
  } },
    el("h1", {}, label("console")),
    el("label", { for: "sign-in-key" }, label("key")),
    key,
    el("p", { class: "muted small" }, label("keyHint")),
    error,
    button);
  shellRoot().replaceChildren(el("div", { class: "sign-in-page" }, languageSwitch(), form));
  key.focus();
}

async function signIn(key, { error, button }) {
  const fail = (text) => { error.textContent = text; error.hidden = false; button.disabled = false; };
  if (!key) return fail(label("noKey"));
  button.disabled = true;
  error.hidden = true;
  try {
    state.who = await request("session", { method: "POST", body: { key } });
  } catch (failure) {
    if (failure.status === 401) return fail(label("unknownKey"));
    if (failure.status === 403 && /sender key/.test(failure.problem?.detail || "")) return fail(label("senderKey"));
    return fail(failure.message);
  }
  renderShell();
  route();
}

async function signOut() {
  try {
    await request("session/end", { method: "POST", csrf: state.who?.csrf });
  } catch (failure) {
    if (failure.status !== 401) { alert(failure.message); return; }
  }
  showSignIn(label("signedOut"));
}

// -- the shell ---------------------------------------------------------------------------

function renderShell() {
  const who = state.who;
  const header = el("header", { class: "top" },
    el("a", { class: "brand", href: "#/overview", "data-test": "hub-name" }, who.hub),
    el("nav", { "aria-label": label("console"), "data-test": "nav" },
      NAV.map((name) => el("a", { href: `#/${name}`, "data-test": `nav-${name}`, "data-view": name }, label(name)))),
    el("div", { class: "who" },
      el("span", { class: "user", "data-test": "user-name" }, who.name),
      el("span", { class: `role role-${who.role}`, "data-test": "user-role", "data-role": who.role },
        label(`role_${who.role}`)),
      languageSwitch(),
      el("button", { type: "button", class: "btn", "data-test": "sign-out", onclick: signOut }, label("signOut"))));
  shellRoot().replaceChildren(header, el("main", { "data-test": "view" }));
}

function disposeCurrent() {
  const current = state.current;
  state.current = null;
  if (current?.module?.dispose) {
    try { current.module.dispose(); } catch (error) { console.error("dispose failed", error); }
  }
}

function showProblem(root, text, withLink) {
  root.replaceChildren(el("div", { class: "view-error", role: "alert", "data-test": "view-error" },
    el("p", {}, text),
    withLink ? el("p", {}, el("a", { href: "#/overview" }, label("toOverview"))) : null));
}

async function route() {
  if (!state.who) return;
  const generation = ++state.generation;
  disposeCurrent();
  const params = parseHash();
  for (const link of document.querySelectorAll("header nav a")) {
    if (link.dataset.view === params.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A fresh <main> for each view: a slow earlier render writes only to its own.
  const root = el("main", { "data-test": "view", "data-view": params.name, "aria-busy": "true" },
    el("p", { class: "loading muted" }, label("loading")));
  document.querySelector("#console > main")?.replaceWith(root);
  const file = VIEWS[params.name];
  if (!file) {
    document.title = `${label("console")} · ${state.who.hub}`;
    root.removeAttribute("aria-busy");
    return showProblem(root, label("noSuchPage", { name: params.name }), true);
  }
  let module;
  try {
    module = await import(`./views/${file}.js`);
  } catch (error) {
    if (generation !== state.generation) return;
    root.removeAttribute("aria-busy");
    return showProblem(root, label("viewMissing", { error: error.message }), false);
  }
  if (generation !== state.generation) return;
  state.current = { module };
  const title = module.title?.[state.lang] ?? module.title?.en ?? label(params.nav);
  document.title = `${title} · ${state.who.hub}`;
  root.replaceChildren();
  root.removeAttribute("aria-busy");
  try {
    await module.render(root, { path: params.path, query: params.query }, makeCtx());
  } catch (error) {
    if (generation !== state.generation || !state.who) return;
    console.error(error);
    showProblem(root, label("viewFailed", { error: error.message }), false);
  }
}

// -- start -------------------------------------------------------------------------------

async function boot() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  window.addEventListener("hashchange", route);
  try {
    state.who = await request("session");
  } catch (failure) {
    if (failure.status === 401) return showSignIn();
    shellRoot().replaceChildren(el("div", { class: "view-error", role: "alert", "data-test": "view-error" },
      el("p", {}, label("hubDown", { error: failure.message })),
      el("button", { class: "btn", type: "button", onclick: () => location.reload() }, label("retry"))));
    return;
  }
  renderShell();
  route();
}

boot();

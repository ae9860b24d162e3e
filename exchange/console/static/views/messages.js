// Messages: search the store by ids, sender, type, receiver, status and time; newest first,
// a page at a time (the API's keyset cursor); a row opens the message's own page.
//
// The search lives in the hash (#/messages?sender=...&cursor=...), so a search can be
// bookmarked, shared and gone back to with the browser's back button.

export const title = { en: "Messages", zh: "消息" };

export const labels = {
  en: {
    heading: "Messages",
    id: "Hub id", message_id: "Sender's message id", correlation_id: "Correlation id",
    sender: "Sender", message_type: "Message type", endpoint: "Receiver", status: "Status",
    since: "Received from", until: "Received before", any: "any",
    search: "Search", clear: "Clear",
    received_at: "Received", updated_at: "Last change", endpoints: "Receivers",
    none: "No message matches this search.",
    newer: "← Newer", older: "Older →", first: "Newest",
    shown: "{count} shown",
    failed: "The search failed: {error}",
    st_accepted: "accepted", st_rejected: "rejected", st_routed: "routed", st_delivering: "delivering",
    st_failed: "failed (retrying)", st_delivered: "delivered", st_dead_lettered: "dead-lettered",
    st_discarded: "discarded",
  },
  zh: {
    heading: "消息",
    id: "交换中心编号", message_id: "发送方消息编号", correlation_id: "关联编号",
    sender: "发送方", message_type: "消息类型", endpoint: "接收方", status: "状态",
    since: "接收时间自", until: "接收时间早于", any: "全部",
    search: "搜索", clear: "清空",
    received_at: "接收时间", updated_at: "最后变更", endpoints: "接收方",
    none: "没有符合条件的消息。",
    newer: "← 较新", older: "较早 →", first: "最新",
    shown: "显示 {count} 条",
    failed: "搜索失败：{error}",
    st_accepted: "已接收", st_rejected: "已拒绝", st_routed: "已路由", st_delivering: "投递中",
    st_failed: "失败（重试中）", st_delivered: "已投递", st_dead_lettered: "已进死信",
    st_discarded: "已丢弃",
  },
};

const TEXT_FIELDS = ["message_id", "id", "correlation_id"];
const CHOICE_FIELDS = [["sender", "senders"], ["message_type", "message_types"],
  ["endpoint", "endpoints"], ["status", "statuses"]];
const TIME_FIELDS = ["since", "until"];
const SEARCH_FIELDS = [...TEXT_FIELDS, ...CHOICE_FIELDS.map(([name]) => name), ...TIME_FIELDS];

// cursor -> the cursor of the page before it ("" for the first page), for "Newer".
const previous = new Map();
let styled = false;

export function useStyles() {
  if (styled) return;
  styled = true;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/console/static/views/messages.css";
  document.head.append(link);
}

export function statusBadge(ctx, status) {
  return ctx.el("span", { class: `status status-${status}`, "data-test": "status" },
    ctx.t(labels, `st_${status}`));
}

// An ISO time for the API from a datetime-local value (the browser's own time zone), and back.
function toIso(local) {
  const when = new Date(local);
  return Number.isNaN(when.getTime()) ? "" : when.toISOString();
}

function toLocal(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
}

function searchHash(values, cursor) {
  const query = new URLSearchParams();
  for (const name of SEARCH_FIELDS) if (values[name]) query.set(name, values[name]);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return text ? `#/messages?${text}` : "#/messages";
}

function form(ctx, values, choices) {
  const { el, t } = ctx;
  const inputs = {};
  const field = (name, control) => el("label", {}, t(labels, name), control);
  const fields = [];
  for (const name of TEXT_FIELDS) {
    inputs[name] = el("input", { type: "search", name, value: values[name] || "", "data-test": `search-${name}`,
      spellcheck: "false", autocomplete: "off" });
    fields.push(field(name, inputs[name]));
  }
  for (const [name, list] of CHOICE_FIELDS) {
    const options = [el("option", { value: "" }, t(labels, "any"))];
    for (const value of choices[list] || []) {
      const text = name === "status" ? t(labels, `st_${value}`) : value;
      options.push(el("option", { value, selected: values[name] === value }, text));
    }
    if (values[name] && !(choices[list] || []).includes(values[name])) {
      options.push(el("option", { value: values[name], selected: true }, values[name]));
    }
    inputs[name] = el("select", { name, "data-test": `search-${name}` }, options);
    fields.push(field(name, inputs[name]));
  }
  for (const name of TIME_FIELDS) {
    inputs[name] = el("input", { type: "datetime-local", name, value: values[name] ? toLocal(values[name]) : "",
      "data-test": `search-${name}` });
    fields.push(field(name, inputs[name]));
  }
  const read = () => {
    const chosen = {};
    for (const name of SEARCH_FIELDS) {
      const raw = inputs[name].value.trim();
      if (raw) chosen[name] = TIME_FIELDS.includes(name) ? toIso(raw) : raw;
    }
    return chosen;
  };
  return el("form", {
    class: "search-form card", role: "search", "data-test": "search-form",
    onsubmit: (event) => { event.preventDefault(); ctx.navigate(searchHash(read())); },
  },
  fields,
  el("div", { class: "actions" },
    el("button", { type: "submit", class: "btn primary", "data-test": "search" }, t(labels, "search")),
    el("button", { type: "button", class: "btn", "data-test": "search-clear",
      onclick: () => ctx.navigate("#/messages") }, t(labels, "clear"))));
}

function results(ctx, answer, values, cursor) {
  const { el, t } = ctx;
  if (!answer.messages.length) return el("p", { class: "empty", "data-test": "no-results" }, t(labels, "none"));
  const rows = answer.messages.map((m) => el("tr", {
    class: "row", "data-test": "result", "data-id": m.id,
    onclick: (event) => { if (!event.target.closest("a")) ctx.navigate(`#/messages/${encodeURIComponent(m.id)}`); },
  },
  el("td", { class: "mono" }, el("a", { href: `#/messages/${encodeURIComponent(m.id)}`, "data-test": "result-link" },
    m.message_id)),
  el("td", { class: "nowrap" }, m.sender),
  el("td", {}, m.message_type),
  el("td", {}, statusBadge(ctx, m.status)),
  el("td", {}, (m.endpoints || []).join(", ")),
  el("td", { class: "num" }, ctx.formatTime(m.received_at)),
  el("td", { class: "num" }, ctx.formatTime(m.updated_at)),
  el("td", { class: "id muted small" }, m.id)));
  const head = ["message_id", "sender", "message_type", "status", "endpoints", "received_at", "updated_at", "id"];
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", class: "btn", "data-test": "page-first", disabled: !cursor,
      onclick: () => ctx.navigate(searchHash(values)) }, t(labels, "first")),
    el("button", { type: "button", class: "btn", "data-test": "page-newer", disabled: !cursor,
      onclick: () => ctx.navigate(searchHash(values, previous.get(cursor) || "")) }, t(labels, "newer")),
    el("button", { type: "button", class: "btn", "data-test": "page-older", disabled: !answer.next_cursor,
      onclick: () => {
        previous.set(answer.next_cursor, cursor || "");
        ctx.navigate(searchHash(values, answer.next_cursor));
      } }, t(labels, "older")),
    el("span", { class: "muted small" }, t(labels, "shown", { count: answer.messages.length })));
  return [
    el("table", { class: "data results", "data-test": "results" },
      el("thead", {}, el("tr", {}, head.map((key) => el("th", {}, t(labels, key))))),
      el("tbody", {}, rows)),
    pager,
  ];
}

export async function render(root, params, ctx) {
  useStyles();
  const { el, t } = ctx;
  const values = {};
  for (const name of SEARCH_FIELDS) {
    const value = params.query.get(name);
    if (value) values[name] = value;
  }
  const cursor = params.query.get("cursor") || "";
  const query = new URLSearchParams(values);
  if (cursor) query.set("cursor", cursor);
  let answer;
  try {
    answer = await ctx.api(`/console/api/messages?${query}`);
  } catch (error) {
    root.replaceChildren(el("h1", {}, t(labels, "heading")),
      el("p", { class: "error", role: "alert", "data-test": "search-error" },
        t(labels, "failed", { error: error.problem?.detail || error.message })));
    return;
  }
  root.replaceChildren(
    el("h1", {}, t(labels, "heading")),
    form(ctx, values, answer.choices || {}),
    el("div", { "data-test": "search-results" }, results(ctx, answer, values, cursor)));
}

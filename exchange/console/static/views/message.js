// One message: its envelope and status, its path as a timeline (accepted, routed with each
// destination's adapter chain, every attempt with the receiver's answer, delivered or
// dead-lettered, replayed or discarded and by whom), its deliveries, and the document at
// each hop (the original and what each receiver got), highlighted and downloadable.

import { highlight } from "./xml-highlight.js";
import { statusBadge, useStyles } from "./messages.js";

export const title = { en: "Message", zh: "消息详情" };

const HIGHLIGHT_LIMIT = 400_000; // characters

export const labels = {
  en: {
    back: "← Search", reload: "Reload",
    sender: "Sender", message_id: "Sender's message id", correlation_id: "Correlation id",
    message_type: "Message type", schema_version: "Schema version", size_bytes: "Size",
    received_at: "Received", updated_at: "Last change", last_error: "Last error",
    timeline: "Timeline", deliveries: "Deliveries", documents: "Documents",
    s_accepted: "Accepted", s_rejected: "Rejected", s_routed: "Routed", s_delivered: "Delivered",
    s_failed: "Attempt failed", s_dead_lettered: "Dead-lettered", s_replayed: "Replayed",
    s_discarded: "Discarded",
    via: "through {via}", bytes: "{n} bytes", ingress: "front door {ms}",
    to: "to {endpoint}", chain: "adapters", noAdapters: "no translation (already in its format)",
    route: "route {route}",
    attempt: "attempt {n}", http: "HTTP {status}", noAnswer: "no HTTP answer", took: "took {ms}",
    retrying: "a retry is scheduled", lastTry: "no retry follows",
    reason: "reason: {text}", error: "error: {text}", by: "by {name}", byApi: "through the REST API",
    stage: "stage: {stage}", replayTo: "sent back to {topic}",
    after: "+{gap}",
    endpoint: "Receiver", route_h: "Route", adapters: "Adapter chain", status: "Status", attempts: "Attempts",
    http_status: "HTTP", d_updated: "Last change",
    original: "Original (as {sender} sent it)", translated: "What {endpoint} received",
    format: "format {format}", download: "Download",
    loadingDoc: "Loading the document…", docFailed: "The document could not be loaded: {error}",
    why_none_kept: "Not kept: this hub keeps no documents (EXCHANGE_DOCUMENT_RETENTION_MS=0).",
    why_rejected: "Not kept: a rejected message never passed the front door.",
    why_dropped: "Dropped: documents are kept {days} (EXCHANGE_DOCUMENT_RETENTION_MS) and this message is older.",
    why_not_made: "Not made: no translated copy was queued for this receiver (see the dead letter in the timeline).",
    why_pending: "Not captured yet: the store is catching up. Reload in a moment.",
    days: "{n} days", hours: "{n} hours",
    notFound: "This message is not in the store: {error}",
    empty: "No steps recorded yet.",
    noDeliveries: "No deliveries (not routed yet, or refused).",
    ds_pending: "pending", ds_retrying: "retrying", ds_failed: "failed", ds_delivered: "delivered",
    ds_dead_lettered: "dead-lettered", ds_discarded: "discarded",
  },
  zh: {
    back: "← 搜索", reload: "刷新",
    sender: "发送方", message_id: "发送方消息编号", correlation_id: "关联编号",
    message_type: "消息类型", schema_version: "模式版本", size_bytes: "大小",
    received_at: "接收时间", updated_at: "最后变更", last_error: "最后错误",
    timeline: "处理过程", deliveries: "投递", documents: "报文",
    s_accepted: "已接收", s_rejected: "已拒绝", s_routed: "已路由", s_delivered: "已投递",
    s_failed: "投递失败", s_dead_lettered: "进入死信", s_replayed: "已重放", s_discarded: "已丢弃",
    via: "经由 {via}", bytes: "{n} 字节", ingress: "入口耗时 {ms}",
    to: "发往 {endpoint}", chain: "适配器", noAdapters: "无需转换（已是目标格式）",
    route: "路由 {route}",
    attempt: "第 {n} 次尝试", http: "HTTP {status}", noAnswer: "无 HTTP 应答", took: "耗时 {ms}",
    retrying: "已安排重试", lastTry: "不再重试",
    reason: "原因：{text}", error: "错误：{text}", by: "操作人 {name}", byApi: "通过 REST 接口",
    stage: "阶段：{stage}", replayTo: "重新发送到 {topic}",
    after: "+{gap}",
    endpoint: "接收方", route_h: "路由", adapters: "适配器链", status: "状态", attempts: "尝试次数",
    http_status: "HTTP", d_updated: "最后变更",
    original: "原始报文（{sender} 发送）", translated: "{endpoint} 收到的报文",
    format: "格式 {format}", download: "下载",
    loadingDoc: "正在加载报文…", docFailed: "无法加载报文：{error}",
    why_none_kept: "未保存：本交换中心不保存报文（EXCHANGE_DOCUMENT_RETENTION_MS=0）。",
    why_rejected: "未保存：被拒绝的消息没有通过入口。",
    why_dropped: "已删除：报文只保存 {days}（EXCHANGE_DOCUMENT_RETENTION_MS），这条消息更早。",
    why_not_made: "未生成：没有为此接收方生成转换后的报文（见处理过程中的死信）。",
    why_pending: "尚未保存：存储正在追赶，请稍后刷新。",
    days: "{n} 天", hours: "{n} 小时",
    notFound: "存储中没有这条消息：{error}",
    empty: "尚无处理记录。",
    noDeliveries: "没有投递（尚未路由或已被拒绝）。",
    ds_pending: "待投递", ds_retrying: "重试中", ds_failed: "失败", ds_delivered: "已投递",
    ds_dead_lettered: "已进死信", ds_discarded: "已丢弃",
  },
};

function retentionText(ctx, ms) {
  const days = ms / 86_400_000;
  if (days >= 1) return ctx.t(labels, "days", { n: Number(days.toFixed(2)) });
  return ctx.t(labels, "hours", { n: Number((ms / 3_600_000).toFixed(2)) });
}

function stepFacts(ctx, step) {
  const { el, t } = ctx;
  const facts = [];
  const fact = (...children) => facts.push(el("li", {}, ...children));
  switch (step.step) {
    case "accepted":
      if (step.via) fact(t(labels, "via", { via: step.via.toUpperCase() }));
      if (step.size !== undefined) fact(t(labels, "bytes", { n: step.size }));
      if (step.ingress_ms !== undefined) fact(t(labels, "ingress", { ms: ctx.formatDuration(step.ingress_ms) }));
      break;
    case "rejected":
      if (step.status) fact(t(labels, "http", { status: step.status }));
      if (step.reason) fact(t(labels, "reason", { text: step.reason }));
      break;
    case "routed":
      for (const dest of step.destinations || []) {
        const adapters = dest.adapters || [];
        fact(el("strong", {}, t(labels, "to", { endpoint: dest.endpoint })), " · ",
          t(labels, "route", { route: dest.route }), " · ",
          adapters.length
            ? el("span", { class: "chain", "data-test": "chain" }, `${t(labels, "chain")}: ${adapters.join(" → ")}`)
            : el("span", { class: "muted" }, t(labels, "noAdapters")));
      }
      break;
    case "delivered":
    case "failed":
      fact(t(labels, "attempt", { n: step.attempt }), " · ",
        step.status ? t(labels, "http", { status: step.status }) : t(labels, "noAnswer"),
        step.elapsed_ms !== undefined ? ` · ${t(labels, "took", { ms: ctx.formatDuration(step.elapsed_ms) })}` : "");
      if (step.error) fact(el("span", { class: "error" }, t(labels, "error", { text: step.error })));
      if (step.step === "failed") fact(t(labels, step.retrying ? "retrying" : "lastTry"));
      break;
    case "dead_lettered":
      if (step.attempt) fact(t(labels, "attempt", { n: step.attempt }));
      if (step.stage) fact(t(labels, "stage", { stage: step.stage }));
      if (step.reason) fact(el("span", { class: "error" }, t(labels, "reason", { text: step.reason })));
      break;
    case "replayed":
    case "discarded":
      fact(el("span", { "data-test": "step-by" },
        step.by ? t(labels, "by", { name: step.by }) : t(labels, "byApi")));
      if (step.reason) fact(t(labels, "reason", { text: step.reason }));
      if (step.topic) fact(t(labels, "replayTo", { topic: step.topic }));
      break;
    default:
      for (const [key, value] of Object.entries(step)) {
        if (["at", "step", "endpoint", "since_previous_ms", "since_start_ms", "tone"].includes(key)) continue;
        fact(`${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`);
      }
  }
  return facts.length ? el("ul", { class: "facts" }, facts) : null;
}

function timeline(ctx, steps) {
  const { el, t } = ctx;
  if (!steps.length) return el("p", { class: "muted" }, t(labels, "empty"));
  return el("ol", { class: "timeline", "data-test": "timeline" }, steps.map((step) => el("li", {
    class: `tone-${step.tone}`, "data-test": "step", "data-step": step.step,
  },
  el("span", { class: "what" }, t(labels, `s_${step.step}`)),
  step.endpoint ? el("span", { class: "mono" }, step.endpoint) : null,
  el("div", {},
    el("span", { class: "when" }, ctx.formatTime(step.at)),
    step.since_previous_ms !== null && step.since_previous_ms !== undefined
      ? el("span", { class: "gap" }, t(labels, "after", { gap: ctx.formatDuration(step.since_previous_ms) }))
      : null),
  stepFacts(ctx, step))));
}

function deliveries(ctx, rows) {
  const { el, t } = ctx;
  if (!rows.length) return el("p", { class: "muted" }, t(labels, "noDeliveries"));
  const head = ["endpoint", "route_h", "adapters", "status", "attempts", "http_status", "last_error", "d_updated"];
  return el("table", { class: "data", "data-test": "deliveries" },
    el("thead", {}, el("tr", {}, head.map((key) => el("th", {}, t(labels, key))))),
    el("tbody", {}, rows.map((d) => el("tr", { "data-test": "delivery", "data-endpoint": d.endpoint },
      el("td", { class: "mono" }, d.endpoint),
      el("td", {}, d.route),
      el("td", { class: "mono small" }, (d.adapters || []).join(" → ") || "—"),
      el("td", {}, el("span", { class: `status status-${d.status}`, "data-test": "delivery-status" },
        t(labels, `ds_${d.status}`))),
      el("td", { class: "num" }, d.attempts),
      el("td", { class: "num" }, d.http_status ?? "—"),
      el("td", { class: "error small" }, d.last_error || ""),
      el("td", { class: "num" }, ctx.formatTime(d.updated_at))))));
}

async function loadDocument(pre, url, ctx) {
  try {
    const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/plain" } });
    if (!answer.ok) {
      let detail = `HTTP ${answer.status}`;
      try { detail = (await answer.json()).detail || detail; } catch { /* not JSON: keep the status */ }
      throw new Error(detail);
    }
    const text = await answer.text();
    // Past a few hundred kilobytes, one span per token would make the page crawl: plain text.
    if (text.length > HIGHLIGHT_LIMIT) pre.textContent = text;
    else {
      const fragment = document.createDocumentFragment();
      for (const node of highlight(text)) fragment.append(node); // no spread: nodes may be many
      pre.replaceChildren(fragment);
    }
  } catch (error) {
    pre.replaceChildren(ctx.t(labels, "docFailed", { error: error.message }));
    pre.classList.add("error");
  }
}

function documentCard(ctx, message, doc, retentionMs) {
  const { el, t } = ctx;
  const base = `/console/api/messages/${encodeURIComponent(message.id)}/documents/${encodeURIComponent(doc.name)}`;
  const heading = doc.endpoint
    ? t(labels, "translated", { endpoint: doc.endpoint })
    : t(labels, "original", { sender: message.sender });
  const facts = [
    doc.format ? el("span", { class: "muted small" }, t(labels, "format", { format: doc.format })) : null,
    doc.adapters?.length ? el("span", { class: "chain muted small" }, doc.adapters.join(" → ")) : null,
    doc.kept ? el("span", { class: "muted small" }, t(labels, "bytes", { n: doc.size_bytes })) : null,
    doc.kept ? el("a", { class: "btn", href: `${base}?download=1`, download: "", "data-test": `download-${doc.name}` },
      t(labels, "download")) : null,
  ];
  let body;
  if (doc.kept) {
    body = el("pre", { class: "xml", "data-test": `document-${doc.name}` }, t(labels, "loadingDoc"));
    loadDocument(body, base, ctx);
  } else {
    body = el("p", { class: "missing", role: "note", "data-test": `document-missing-${doc.name}`, "data-why": doc.why_code },
      t(labels, `why_${doc.why_code}`, { days: retentionText(ctx, retentionMs) }));
  }
  return el("article", { class: "document card", "data-test": "document", "data-name": doc.name },
    el("header", {}, el("h3", {}, heading), facts), body);
}

export async function render(root, params, ctx) {
  useStyles();
  const { el, t } = ctx;
  const id = params.path[0] || "";
  let answer;
  try {
    answer = await ctx.api(`/console/api/messages/${encodeURIComponent(id)}`);
  } catch (error) {
    root.replaceChildren(
      el("a", { href: "#/messages" }, t(labels, "back")),
      el("p", { class: "error", role: "alert", "data-test": "message-error" },
        t(labels, "notFound", { error: error.problem?.detail || error.message })));
    return;
  }
  const m = answer.message;
  const envelope = ["sender", "message_id", "correlation_id", "message_type", "schema_version",
    "size_bytes", "received_at", "updated_at", "last_error"]
    .filter((key) => m[key] !== null && m[key] !== undefined && m[key] !== "")
    .flatMap((key) => [el("dt", {}, t(labels, key)), el("dd", { "data-test": `envelope-${key}` },
      key.endsWith("_at") ? ctx.formatTime(m[key]) : String(m[key]))]);
  root.replaceChildren(el("div", { class: "message-page", "data-test": "message-page", "data-id": m.id },
    el("div", { class: "message-head" },
      el("a", { href: `#/messages?message_id=${encodeURIComponent(m.message_id)}` }, t(labels, "back")),
      el("h1", { "data-test": "message-id" }, m.id),
      statusBadge(ctx, m.status),
      el("button", { type: "button", class: "btn", "data-test": "reload", onclick: () => render(root, params, ctx) },
        t(labels, "reload"))),
    el("dl", { class: "envelope" }, envelope),
    el("section", {}, el("h2", {}, t(labels, "timeline")), timeline(ctx, answer.timeline)),
    el("section", {}, el("h2", {}, t(labels, "deliveries")), deliveries(ctx, answer.deliveries)),
    el("section", {}, el("h2", {}, t(labels, "documents")),
      el("div", { class: "documents", "data-test": "documents" },
        answer.documents.map((doc) => documentCard(ctx, m, doc, answer.document_retention_ms))))));
}

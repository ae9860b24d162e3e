// Statistics (绩效评估): per sender or per receiver, per day, week or month of a period:
// messages, failures and median latency; a table and its CSV download.

import { formatCount, useStyles } from "./insight-parts.js";

export const title = { en: "Statistics", zh: "绩效统计" };

export const labels = {
  en: {
    heading: "Statistics for the performance assessment",
    intro: "Counted from the hub's traffic records, in your time zone ({tz}). A sender's failures are its refused messages plus the failed tries and dead letters of their deliveries; a receiver's are its failed tries and dead letters.",
    by: "Group by",
    sender: "Sender",
    endpoint: "Receiver",
    period: "Per",
    day: "day",
    week: "week",
    month: "month",
    since: "From",
    until: "To",
    show: "Show",
    csv: "Download CSV",
    name: "Name",
    messages: "Messages",
    accepted: "Accepted",
    rejected: "Rejected",
    delivered: "Delivered",
    failed: "Failed tries",
    dead_lettered: "Dead-lettered",
    failures: "Failures",
    median_latency_ms: "Median latency",
    p95_latency_ms: "95th percentile",
    periodColumn: "Period",
    total: "Total",
    empty: "Nothing was counted in this period.",
    loadFailed: "Could not load the statistics: {reason}",
  },
  zh: {
    heading: "绩效评估统计",
    intro: "依据枢纽的流量记录统计，按您的时区（{tz}）划分。发送方的失败数为被拒绝的消息加上其投递的失败尝试和死信；接收方的失败数为失败尝试和死信。",
    by: "分组",
    sender: "发送方",
    endpoint: "接收方",
    period: "周期",
    day: "按日",
    week: "按周",
    month: "按月",
    since: "开始日期",
    until: "结束日期",
    show: "查询",
    csv: "下载 CSV",
    name: "名称",
    messages: "消息数",
    accepted: "已接收",
    rejected: "已拒绝",
    delivered: "已投递",
    failed: "失败尝试",
    dead_lettered: "死信",
    failures: "失败数",
    median_latency_ms: "中位延迟",
    p95_latency_ms: "95分位延迟",
    periodColumn: "周期",
    total: "合计",
    empty: "该时段内没有统计数据。",
    loadFailed: "无法加载统计数据：{reason}",
  },
};

const LATENCIES = new Set(["median_latency_ms", "p95_latency_ms"]);

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function zone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export async function render(root, params, ctx) {
  useStyles();
  const t = (key, vars) => ctx.t(labels, key, vars);
  const q = params.query;
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400000);
  const chosen = {
    by: ["sender", "endpoint"].includes(q.get("by")) ? q.get("by") : "sender",
    period: ["day", "week", "month"].includes(q.get("period")) ? q.get("period") : "day",
    since: q.get("since") || isoDay(weekAgo),
    until: q.get("until") || isoDay(today),
    tz: zone(),
  };
  const select = (name, options) =>
    ctx.el(
      "select",
      { name, "data-test": `statistics-${name}` },
      options.map((value) => ctx.el("option", { value, selected: chosen[name] === value, text: t(value) })),
    );
  const bySelect = select("by", ["sender", "endpoint"]);
  const periodSelect = select("period", ["day", "week", "month"]);
  const sinceInput = ctx.el("input", { type: "date", name: "since", value: chosen.since, "data-test": "statistics-since" });
  const untilInput = ctx.el("input", { type: "date", name: "until", value: chosen.until, "data-test": "statistics-until" });
  const form = ctx.el(
    "form",
    {
      class: "insight-toolbar",
      onsubmit: (event) => {
        event.preventDefault();
        const next = new URLSearchParams({
          by: bySelect.value,
          period: periodSelect.value,
          since: sinceInput.value,
          until: untilInput.value,
        });
        ctx.navigate(`#/statistics?${next}`);
      },
    },
    ctx.el("label", {}, t("by"), bySelect),
    ctx.el("label", {}, t("period"), periodSelect),
    ctx.el("label", {}, t("since"), sinceInput),
    ctx.el("label", {}, t("until"), untilInput),
    ctx.el("button", { type: "submit", "data-test": "statistics-show", text: t("show") }),
  );
  const query = new URLSearchParams(chosen);
  const csvQuery = new URLSearchParams({ ...chosen, format: "csv", lang: ctx.lang });
  const csvLink = ctx.el("a", {
    href: `/console/api/statistics?${csvQuery}`,
    download: "",
    class: "btn",
    "data-test": "statistics-csv",
    text: t("csv"),
  });
  const status = ctx.el("p", { class: "insight-note", "aria-live": "polite" });
  const tableBox = ctx.el("div");
  root.append(
    ctx.el("h1", { text: t("heading") }),
    ctx.el("p", { class: "insight-note", text: t("intro", { tz: chosen.tz }) }),
    form,
    ctx.el("p", {}, csvLink),
    status,
    tableBox,
  );
  try {
    const answer = await ctx.api(`statistics?${query}`);
    tableBox.replaceChildren(table(answer, ctx, t));
  } catch (failure) {
    if (failure?.status === 401) throw failure;
    status.textContent = ctx.t(labels, "loadFailed", { reason: failure?.message || String(failure) });
    status.classList.add("insight-error");
  }
}

function cell(ctx, column, value) {
  if (LATENCIES.has(column)) return ctx.el("td", { class: "num", text: value === null ? "—" : ctx.formatDuration(value) });
  return ctx.el("td", { class: "num", text: formatCount(ctx.lang, value) });
}

function table(answer, ctx, t) {
  if (!answer.rows.length) return ctx.el("p", { class: "insight-note", text: t("empty") });
  const columns = answer.columns;
  const rows = answer.rows.map((row) =>
    ctx.el(
      "tr",
      { "data-test": "statistics-row", "data-key": row[answer.by], "data-period": row.period },
      ctx.el("td", { text: row.period, title: `${row.first_day} – ${row.last_day}` }),
      ctx.el("td", { "data-test": "statistics-key", text: row[answer.by] }),
      ctx.el("td", { text: row.name || "" }),
      columns.map((column) => cell(ctx, column, row[column])),
    ),
  );
  return ctx.el(
    "table",
    { class: "insight-table", "data-test": "statistics-table" },
    ctx.el(
      "thead",
      {},
      ctx.el(
        "tr",
        {},
        ctx.el("th", { text: t("periodColumn") }),
        ctx.el("th", { text: t(answer.by) }),
        ctx.el("th", { text: t("name") }),
        columns.map((column) => ctx.el("th", { class: "num", text: t(column) })),
      ),
    ),
    ctx.el("tbody", {}, rows),
    ctx.el(
      "tfoot",
      {},
      (answer.totals || []).map((row) =>
        ctx.el(
          "tr",
          { "data-test": "statistics-total", "data-key": row[answer.by] },
          ctx.el("th", { text: t("total"), title: `${row.first_day} – ${row.last_day}` }),
          ctx.el("th", { text: row[answer.by] }),
          ctx.el("th", { text: row.name || "" }),
          columns.map((column) => cell(ctx, column, row[column])),
        ),
      ),
    ),
  );
}

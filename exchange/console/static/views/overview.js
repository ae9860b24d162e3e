// The overview: the hub's totals, every endpoint and route with its rates, latency, backlog,
// breaker and oldest undelivered message, and charts of throughput, latency and backlog over
// a chosen range.  Live: one server-sent event a second (/console/api/live) updates it all
// without a reload; the charts of longer ranges are fetched again at their step.

export const title = { en: "Overview", zh: "总览" };

export const labels = {
  en: {
    heading: "Overview", live: "live", connecting: "connecting…", offline: "reconnecting…",
    window: "Figures over the last", minute: "minute", hour: "hour", day: "day",
    range: "Charts over the last",
    accepted: "Accepted", delivered: "Delivered", failed: "Failed tries", deadLettered: "Dead-lettered",
    rejected: "Rejected", replayed: "Replayed",
    throughput: "Throughput", perSecond: "{value}/s", acceptedRate: "accepted, last minute",
    latency: "End-to-end latency", latencyHint: "accepted → delivered, p50 / p95 / p99",
    ingress: "Ingress latency", ingressHint: "the front door's own time, p50 / p95 / p99",
    backlog: "Backlog", backlogHint: "records waiting on deliver.* and retry.* topics",
    openBreakers: "Open breakers", oldest: "Oldest undelivered", none: "none",
    endpoints: "Endpoints", routes: "Routes", endpoint: "Endpoint", route: "Route",
    kind: "Kind", breaker: "Breaker", rate: "Rate (1 min)", p50: "p50", p95: "p95", p99: "p99",
    waiting: "Waiting", trend: "Deliveries", lastError: "Last error: {error}",
    since: "since {time}", destinations: "Endpoints",
    state_closed: "closed", state_open: "open", "state_half-open": "half-open",
    chartThroughput: "Throughput (messages per second)", chartLatency: "End-to-end latency (ms)",
    chartBacklog: "Backlog (records waiting)",
    series_accepted: "accepted", series_delivered: "delivered", series_failed: "failed tries",
    series_dead: "dead-lettered", series_backlog: "waiting",
    noCharts: "Charts need the console's chart library (run `make console-assets`); the figures above are live all the same.",
    noEndpoints: "No endpoints are configured: add them under routes/.",
    failedLoad: "The overview could not be loaded: {error}",
  },
  zh: {
    heading: "总览", live: "实时", connecting: "连接中…", offline: "正在重连…",
    window: "统计范围：最近", minute: "1 分钟", hour: "1 小时", day: "1 天",
    range: "图表范围：最近",
    accepted: "已接收", delivered: "已投递", failed: "投递失败次数", deadLettered: "死信",
    rejected: "已拒绝", replayed: "已重放",
    throughput: "吞吐量", perSecond: "{value}/秒", acceptedRate: "接收，最近 1 分钟",
    latency: "端到端时延", latencyHint: "接收 → 投递，p50 / p95 / p99",
    ingress: "接入时延", ingressHint: "前端自身处理时间，p50 / p95 / p99",
    backlog: "积压", backlogHint: "deliver.* 与 retry.* 主题上等待的记录",
    openBreakers: "已断开的熔断器", oldest: "最早未投递", none: "无",
    endpoints: "接收端点", routes: "路由", endpoint: "端点", route: "路由",
    kind: "类型", breaker: "熔断器", rate: "速率（1 分钟）", p50: "p50", p95: "p95", p99: "p99",
    waiting: "等待中", trend: "投递趋势", lastError: "最近错误：{error}",
    since: "自 {time} 起", destinations: "端点",
    state_closed: "闭合", state_open: "断开", "state_half-open": "半开",
    chartThroughput: "吞吐量（条/秒）", chartLatency: "端到端时延（毫秒）",
    chartBacklog: "积压（等待的记录）",
    series_accepted: "接收", series_delivered: "投递", series_failed: "失败次数",
    series_dead: "死信", series_backlog: "等待",
    noCharts: "图表需要控制台的图表库（运行 `make console-assets`）；上面的数字仍然实时更新。",
    noEndpoints: "尚未配置任何端点：请在 routes/ 下添加。",
    failedLoad: "无法加载总览：{error}",
  },
};

const WINDOWS = ["minute", "hour", "day"];
const RANGES = ["15m", "1h", "6h", "24h", "7d", "30d"];
const BADGE = { closed: "ok", open: "bad", "half-open": "warn" };

let state = null;

export function dispose() {
  if (!state) return;
  state.disposed = true;
  state.source?.close();
  clearTimeout(state.refetch);
  window.removeEventListener("resize", state.onResize);
  for (const chart of [...Object.values(state.charts), ...Object.values(state.sparks)]) chart.destroy();
  state = null;
}

export async function render(root, params, ctx) {
  dispose();
  const L = (key, vars) => ctx.t(labels, key, vars);
  const windowName = WINDOWS.includes(params.query.get("window")) ? params.query.get("window") : "hour";
  const rangeName = RANGES.includes(params.query.get("range")) ? params.query.get("range") : "15m";
  const me = {
    ctx, L, root, windowName, rangeName, overview: null, series: null,
    charts: {}, sparks: {}, rows: {}, routeRows: {}, source: null, refetch: null, disposed: false,
    onResize: () => resizeCharts(me),
  };
  state = me;
  let overview;
  try {
    overview = await ctx.api("overview");
  } catch (error) {
    root.replaceChildren(ctx.el("p", { class: "error", role: "alert" }, L("failedLoad", { error: error.message })));
    return;
  }
  if (me.disposed) return;
  me.overview = overview;
  layout(me);
  update(me, overview);
  await loadSeries(me);
  if (me.disposed) return;
  connect(me);
  window.addEventListener("resize", me.onResize);
}

// -- layout --------------------------------------------------------------------------------

function chooser(me, name, options, current, labelOf, onPick) {
  const { el } = me.ctx;
  return el("div", { class: "ov-chooser", role: "group", "data-test": name },
    options.map((option) => el("button", {
      type: "button", class: option === current ? "active" : null, "data-value": option,
      "aria-pressed": String(option === current),
      onclick: (event) => {
        for (const button of event.currentTarget.parentElement.children) {
          const on = button.dataset.value === option;
          button.classList.toggle("active", on);
          button.setAttribute("aria-pressed", String(on));
        }
        onPick(option);
      },
    }, labelOf(option))));
}

function card(me, test, heading, hint) {
  const { el } = me.ctx;
  return el("div", { class: "card ov-card", "data-test": test },
    el("div", { class: "muted small" }, heading),
    el("div", { class: "ov-value", "data-test": "value" }, "—"),
    el("div", { class: "muted small ov-hint", "data-test": "hint" }, hint || ""));
}

function layout(me) {
  const { el } = me.ctx;
  const L = me.L;
  useStyles();
  me.status = el("span", { class: "badge idle", "data-test": "live-status" }, L("connecting"));
  const cards = el("div", { class: "ov-cards", "data-test": "hub-cards" },
    card(me, "total-accepted", L("accepted")),
    card(me, "total-delivered", L("delivered")),
    card(me, "total-failed", L("failed")),
    card(me, "total-dead-lettered", L("deadLettered")),
    card(me, "throughput", L("throughput"), L("acceptedRate")),
    card(me, "latency", L("latency"), L("latencyHint")),
    card(me, "ingress", L("ingress"), L("ingressHint")),
    card(me, "backlog", L("backlog"), L("backlogHint")),
    card(me, "open-breakers", L("openBreakers")),
    card(me, "oldest", L("oldest")));
  me.cards = cards;
  const charts = el("div", { class: "ov-charts", "data-test": "charts" });
  me.chartBox = charts;
  me.endpointBody = el("tbody");
  me.routeBody = el("tbody");
  const head = (...names) => el("thead", {}, el("tr", {}, names.map(([key, cls]) => el("th", { class: cls }, L(key)))));
  me.root.replaceChildren(
    el("div", { class: "ov-top" },
      el("h1", {}, L("heading")), me.status,
      el("label", { class: "muted small" }, L("window")),
      chooser(me, "window", WINDOWS, me.windowName, (w) => L(w), (w) => { me.windowName = w; update(me, me.overview); })),
    cards,
    el("section", { class: "card ov-section" },
      el("div", { class: "ov-top" },
        el("h2", {}, L("endpoints"))),
      el("table", { class: "data", "data-test": "endpoints" },
        head(["endpoint"], ["breaker"], ["rate", "num"], ["delivered", "num"], ["failed", "num"],
          ["deadLettered", "num"], ["p50", "num"], ["p95", "num"], ["p99", "num"], ["waiting", "num"],
          ["oldest", "num"], ["trend"]),
        me.endpointBody)),
    el("section", { class: "card ov-section" },
      el("div", { class: "ov-top" },
        el("h2", {}, L("range")),
        chooser(me, "range", RANGES, me.rangeName, (r) => r, (r) => { me.rangeName = r; loadSeries(me); })),
      charts),
    el("section", { class: "card ov-section" },
      el("h2", {}, L("routes")),
      el("table", { class: "data", "data-test": "routes" },
        head(["route"], ["destinations"], ["rate", "num"], ["delivered", "num"], ["failed", "num"],
          ["deadLettered", "num"], ["p95", "num"]),
        me.routeBody)));
  if (!me.overview.endpoints.length) {
    me.endpointBody.append(el("tr", {}, el("td", { colspan: 12, class: "empty" }, L("noEndpoints"))));
  }
  for (const endpoint of me.overview.endpoints) me.endpointBody.append(endpointRow(me, endpoint));
  for (const route of me.overview.routes) me.routeBody.append(routeRow(me, route));
}

function cell(me, test, cls) {
  return me.ctx.el("td", { "data-test": test, class: cls || "num" }, "—");
}

function endpointRow(me, endpoint) {
  const { el } = me.ctx;
  const spark = el("div", { class: "ov-spark", "data-test": "sparkline" });
  const row = el("tr", { "data-test": "endpoint-row", "data-endpoint": endpoint.name },
    el("td", {},
      el("div", { class: "mono" }, endpoint.name),
      el("div", { class: "muted small" }, [endpoint.title, endpoint.kind.toUpperCase()].filter(Boolean).join(" · "))),
    el("td", { "data-test": "breaker-cell" },
      el("span", { class: "badge idle", "data-test": "breaker" }, "—"),
      el("div", { class: "muted small ov-error", "data-test": "breaker-detail" })),
    cell(me, "rate"), cell(me, "delivered"), cell(me, "failed"), cell(me, "dead-lettered"),
    cell(me, "p50"), cell(me, "p95"), cell(me, "p99"), cell(me, "backlog"), cell(me, "oldest"),
    el("td", {}, spark));
  me.rows[endpoint.name] = { row, spark };
  return row;
}

function routeRow(me, route) {
  const { el } = me.ctx;
  const row = el("tr", { "data-test": "route-row", "data-route": route.name },
    el("td", {}, el("div", { class: "mono" }, route.name),
      route.description ? el("div", { class: "muted small ov-desc" }, route.description) : null),
    el("td", { class: "mono small" }, route.endpoints.join(", ")),
    cell(me, "rate"), cell(me, "delivered"), cell(me, "failed"), cell(me, "dead-lettered"), cell(me, "p95"));
  me.routeRows[route.name] = row;
  return row;
}

// -- figures -------------------------------------------------------------------------------

const numberFormats = {};
function count(me, value) {
  if (value === null || value === undefined) return "—";
  const lang = me.ctx.lang;
  numberFormats[lang] ??= new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB");
  return numberFormats[lang].format(value);
}

function rate(me, perSecond) {
  const value = perSecond >= 10 ? Math.round(perSecond) : Math.round(perSecond * 100) / 100;
  return me.L("perSecond", { value: count(me, value) });
}

function ms(me, value) {
  return value === null || value === undefined ? "—" : me.ctx.formatDuration(value);
}

function put(scope, test, text, title) {
  const node = scope.querySelector(`[data-test="${test}"]`);
  if (!node) return;
  if (node.textContent !== text) node.textContent = text;
  if (title !== undefined) node.title = title;
}

function update(me, overview) {
  me.overview = overview;
  const hub = overview.hub;
  const w = hub[me.windowName];
  const cardValue = (test, text, hint) => {
    const box = me.cards.querySelector(`[data-test="${test}"]`);
    put(box, "value", text);
    if (hint !== undefined) put(box, "hint", hint);
  };
  cardValue("total-accepted", count(me, w.accepted), `${me.L("rejected")}: ${count(me, w.rejected)}`);
  cardValue("total-delivered", count(me, w.delivered));
  cardValue("total-failed", count(me, w.failed));
  cardValue("total-dead-lettered", count(me, w.dead_lettered), `${me.L("replayed")}: ${count(me, w.replayed)}`);
  cardValue("throughput", rate(me, hub.minute.rate));
  const e2e = w.latency_ms.e2e;
  cardValue("latency", [e2e.p50, e2e.p95, e2e.p99].map((v) => ms(me, v)).join(" / "));
  const ingress = w.latency_ms.ingress;
  cardValue("ingress", [ingress.p50, ingress.p95, ingress.p99].map((v) => ms(me, v)).join(" / "));
  cardValue("backlog", count(me, hub.backlog));
  cardValue("open-breakers", count(me, hub.open_breakers));
  cardValue("oldest", hub.oldest_undelivered_s === null ? me.L("none") : ms(me, hub.oldest_undelivered_s * 1000));
  me.cards.querySelector('[data-test="open-breakers"]').classList.toggle("ov-alarm", hub.open_breakers > 0);

  for (const endpoint of overview.endpoints) {
    const entry = me.rows[endpoint.name];
    if (!entry) continue;
    const { row } = entry;
    const figures = endpoint[me.windowName];
    const latency = figures.latency_ms.e2e;
    put(row, "rate", rate(me, endpoint.minute.rate));
    put(row, "delivered", count(me, figures.delivered));
    put(row, "failed", count(me, figures.failed));
    put(row, "dead-lettered", count(me, figures.dead_lettered));
    put(row, "p50", ms(me, latency.p50));
    put(row, "p95", ms(me, latency.p95));
    put(row, "p99", ms(me, latency.p99));
    const backlog = endpoint.backlog;
    put(row, "backlog", backlog === null ? "—" : count(me, backlog.total),
      backlog === null ? "" : `deliver ${backlog.deliver} · retry ${backlog.retry}`);
    put(row, "oldest", endpoint.oldest_undelivered_s === null ? me.L("none")
      : ms(me, endpoint.oldest_undelivered_s * 1000));
    const breaker = endpoint.breaker;
    const badge = row.querySelector('[data-test="breaker"]');
    badge.className = `badge ${BADGE[breaker.state] || "idle"}`;
    badge.dataset.state = breaker.state;
    put(row, "breaker", me.L(`state_${breaker.state}`));
    const detail = [];
    if (breaker.state !== "closed" && breaker.since) detail.push(me.L("since", { time: me.ctx.formatTime(breaker.since) }));
    if (breaker.state !== "closed" && breaker.last_error) detail.push(me.L("lastError", { error: breaker.last_error }));
    put(row, "breaker-detail", detail.join(" · "));
  }
  for (const route of overview.routes) {
    const row = me.routeRows[route.name];
    if (!row) continue;
    const figures = route[me.windowName];
    put(row, "rate", rate(me, route.minute.rate));
    put(row, "delivered", count(me, figures.delivered));
    put(row, "failed", count(me, figures.failed));
    put(row, "dead-lettered", count(me, figures.dead_lettered));
    put(row, "p95", ms(me, figures.latency_ms.e2e.p95));
  }
}

// -- live ----------------------------------------------------------------------------------

function connect(me) {
  const source = new EventSource("/console/api/live", { withCredentials: true });
  me.source = source;
  const status = (key, cls) => {
    me.status.textContent = me.L(key);
    me.status.className = `badge ${cls}`;
    me.status.dataset.state = key;
  };
  source.addEventListener("open", () => status("live", "ok"));
  source.addEventListener("error", () => {
    if (me.disposed) return;
    status("offline", "warn");
    // A stream refused for a session that ended is not retried by EventSource: ask the
    // API, which sends the shell to its sign-in page on a 401.
    if (source.readyState === EventSource.CLOSED) me.ctx.api("overview").catch(() => {});
  });
  source.addEventListener("tick", (event) => {
    if (me.disposed) return;
    const tick = JSON.parse(event.data);
    status("live", "ok");
    update(me, tick.overview);
    if (me.rangeName === "15m") mergeSeconds(me, tick.seconds, tick.backlog);
  });
}

// The last seconds of a tick into the 15-minute series: points already there are
// overwritten (the indexer may have added to them since), new ones appended, the oldest dropped.
function mergeSeconds(me, seconds, backlog) {
  const series = me.series;
  if (!series || series.step_s !== 1) return;
  const index = new Map(series.t.map((t, i) => [t, i]));
  const counts = ["accepted", "delivered", "failed", "dead_lettered"];
  const quantiles = ["p50", "p95", "p99"];
  const perEndpoint = Object.values(series.endpoints);
  const totalBacklog = Object.values(backlog || {}).reduce((a, b) => a + b, 0);
  seconds.t.forEach((t, i) => {
    let at = index.get(t);
    if (at === undefined) {
      if (t < series.t[series.t.length - 1]) return;
      series.t.push(t);
      for (const name of counts) series[name].push(0);
      for (const name of quantiles) series.latency_ms[name].push(null);
      series.backlog.push(series.backlog[series.backlog.length - 1] ?? 0);
      for (const lines of perEndpoint) {
        lines.delivered.push(0);
        lines.failed.push(0);
        lines.backlog.push(lines.backlog[lines.backlog.length - 1] ?? 0);
      }
      at = series.t.length - 1;
      index.set(t, at);
    }
    for (const name of counts) series[name][at] = Math.max(series[name][at], seconds[name][i]);
    for (const [name, lines] of Object.entries(seconds.endpoints || {})) {
      const target = series.endpoints[name];
      if (!target) continue;
      target.delivered[at] = Math.max(target.delivered[at], lines.delivered[i]);
      target.failed[at] = Math.max(target.failed[at], lines.failed[i]);
    }
    for (const name of quantiles) {
      if (seconds.latency_ms[name][i] !== null) series.latency_ms[name][at] = seconds.latency_ms[name][i];
    }
  });
  const last = series.t.length - 1;
  series.backlog[last] = totalBacklog;
  for (const [name, lines] of Object.entries(series.endpoints)) lines.backlog[last] = backlog?.[name] ?? 0;
  const keep = 900;
  if (series.t.length > keep) {
    const drop = series.t.length - keep;
    series.t.splice(0, drop);
    for (const name of counts) series[name].splice(0, drop);
    for (const name of quantiles) series.latency_ms[name].splice(0, drop);
    series.backlog.splice(0, drop);
    for (const lines of perEndpoint) {
      lines.delivered.splice(0, drop);
      lines.failed.splice(0, drop);
      lines.backlog.splice(0, drop);
    }
  }
  drawCharts(me);
}

// -- charts --------------------------------------------------------------------------------

async function loadSeries(me) {
  clearTimeout(me.refetch);
  const wanted = me.rangeName;
  let series;
  try {
    series = await me.ctx.api(`series?range=${encodeURIComponent(wanted)}`);
  } catch (error) {
    series = null;
  }
  if (me.disposed || wanted !== me.rangeName) return;
  if (series) {
    me.series = series;
    drawCharts(me, true);
  }
  // Longer ranges move a step at a time: fetch again then (15 minutes follows the ticks).
  if (wanted !== "15m" || !series) {
    const every = Math.min(Math.max(series?.step_s || 5, 5), 60) * 1000;
    me.refetch = setTimeout(() => loadSeries(me), every);
  }
}

function haveCharts() {
  return typeof window.uPlot === "function";
}

function chartWidth(box) {
  return Math.max(box.clientWidth - 8, 240);
}

function drawCharts(me, rebuild = false) {
  const { el } = me.ctx;
  const series = me.series;
  if (!series) return;
  if (!haveCharts()) {
    if (!me.chartBox.querySelector('[data-test="no-charts"]')) {
      me.chartBox.replaceChildren(el("p", { class: "muted", "data-test": "no-charts" }, me.L("noCharts")));
    }
    return;
  }
  const perSecond = (values) => values.map((v) => v / series.step_s);
  const data = {
    throughput: [series.t, perSecond(series.accepted), perSecond(series.delivered), perSecond(series.failed),
      perSecond(series.dead_lettered)],
    latency: [series.t, series.latency_ms.p50, series.latency_ms.p95, series.latency_ms.p99],
    backlog: [series.t, series.backlog],
  };
  if (rebuild || !me.charts.throughput) {
    for (const chart of Object.values(me.charts)) chart.destroy();
    me.charts = {};
    me.chartBox.replaceChildren();
    const specs = [
      ["throughput", "chartThroughput", [["series_accepted", "#1f5fae"], ["series_delivered", "#1a7f37"],
        ["series_failed", "#9a6700"], ["series_dead", "#c62828"]]],
      ["latency", "chartLatency", [["p50", "#1a7f37"], ["p95", "#9a6700"], ["p99", "#c62828"]]],
      ["backlog", "chartBacklog", [["series_backlog", "#6f42c1"]]],
    ];
    for (const [name, heading, lines] of specs) {
      const box = el("div", { class: "ov-chart", "data-test": `chart-${name}` }, el("h3", {}, me.L(heading)));
      me.chartBox.append(box);
      me.charts[name] = new window.uPlot({
        width: chartWidth(me.chartBox), height: 180,
        series: [{}, ...lines.map(([label, stroke]) => ({
          label: me.L(label), stroke, width: 1.5, spanGaps: name === "latency",
          fill: name === "backlog" ? "rgba(111,66,193,0.12)" : undefined,
        }))],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
      }, data[name], box);
    }
  } else {
    for (const [name, chart] of Object.entries(me.charts)) chart.setData(data[name]);
  }
  drawSparks(me, rebuild);
}

function drawSparks(me, rebuild) {
  const series = me.series;
  for (const [name, { spark }] of Object.entries(me.rows)) {
    const lines = series.endpoints[name];
    if (!lines) continue;
    const data = [series.t, lines.delivered, lines.failed];
    const existing = me.sparks[name];
    if (existing && !rebuild) { existing.setData(data); continue; }
    existing?.destroy();
    spark.replaceChildren();
    me.sparks[name] = new window.uPlot({
      width: 140, height: 34,
      series: [{}, { stroke: "#1a7f37", width: 1, fill: "rgba(26,127,55,0.1)" }, { stroke: "#c62828", width: 1 }],
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: true } },
      legend: { show: false },
      cursor: { show: false },
    }, data, spark);
  }
}

function resizeCharts(me) {
  if (!me.chartBox) return;
  const width = chartWidth(me.chartBox);
  for (const chart of Object.values(me.charts)) chart.setSize({ width, height: 180 });
}

let styled = false;
function useStyles() {
  if (styled) return;
  styled = true;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/console/static/views/overview.css";
  document.head.append(link);
}

// Health: the backbone, the store, each stage (alive, where it runs, its lag) and the set of
// schemas, adapters and routes loaded; green, amber or red, each with its reason.

import { every, formatBytes, formatCount, problemText, statusDot, useStyles } from "./insight-parts.js";

export const title = { en: "Health", zh: "运行状况" };

export const labels = {
  en: {
    heading: "Health",
    green: "Healthy",
    amber: "Needs attention",
    red: "Failing",
    checkedAt: "Checked at {time}",
    backbone: "Backbone",
    store: "Store",
    stages: "Stages",
    catalog: "Loaded schemas, adapters and routes",
    kind: "Kind",
    path: "File",
    size: "Size",
    diskFree: "Free disk",
    dialect: "Database",
    indexFailures: "Records not indexed",
    brokers: "Brokers",
    topics: "Topics",
    reachable: "reachable",
    notInCluster: "(not in the cluster's metadata)",
    unreachable: "unreachable: {error}",
    topicMissing: "not created yet",
    partitions: "{count} partitions",
    stage: "Stage",
    runsIn: "Runs in",
    pid: "Process",
    alive: "Alive",
    yes: "yes",
    no: "no",
    unknown: "unknown",
    restarts: "Restarts",
    lag: "Waiting records",
    status: "Status",
    digest: "Set digest",
    schemas: "Schemas",
    adapters: "Adapters",
    counts: "{routes} routes, {endpoints} endpoints, {senders} senders",
    name: "Name",
    version: "Version",
    namespace: "Namespace",
    translates: "Translates",
    loaded: "Loaded",
    "serving process": "the serving process",
    "worker process": "worker process {worker}",
    failed: "Could not read the health: {reason}",
  },
  zh: {
    heading: "运行状况",
    green: "正常",
    amber: "需要关注",
    red: "故障",
    checkedAt: "检查时间 {time}",
    backbone: "消息骨干",
    store: "存储",
    stages: "处理阶段",
    catalog: "已加载的模式、适配器和路由",
    kind: "类型",
    path: "文件",
    size: "大小",
    diskFree: "磁盘剩余",
    dialect: "数据库",
    indexFailures: "未能索引的记录",
    brokers: "代理节点",
    topics: "主题",
    reachable: "可连接",
    notInCluster: "（不在集群元数据中）",
    unreachable: "无法连接：{error}",
    topicMissing: "尚未创建",
    partitions: "{count} 个分区",
    stage: "阶段",
    runsIn: "运行位置",
    pid: "进程",
    alive: "存活",
    yes: "是",
    no: "否",
    unknown: "未知",
    restarts: "重启次数",
    lag: "待处理记录",
    status: "状态",
    digest: "配置摘要",
    schemas: "模式",
    adapters: "适配器",
    counts: "{routes} 条路由，{endpoints} 个端点，{senders} 个发送方",
    name: "名称",
    version: "版本",
    namespace: "命名空间",
    translates: "转换",
    loaded: "已加载",
    "serving process": "服务进程",
    "worker process": "工作进程 {worker}",
    failed: "无法读取运行状况：{reason}",
  },
};

let refresh = null;

export async function render(root, params, ctx) {
  useStyles();
  const t = (key, vars) => ctx.t(labels, key, vars);
  const body = ctx.el("div");
  const status = ctx.el("p", { class: "insight-note", "aria-live": "polite" });
  root.append(ctx.el("h1", { text: t("heading") }), status, body);
  const load = async () => {
    try {
      const health = await ctx.api("health");
      status.textContent = "";
      status.classList.remove("insight-error");
      body.replaceChildren(...page(health, ctx, t));
    } catch (failure) {
      if (failure?.status === 401) throw failure;
      status.textContent = problemText(ctx, labels, failure);
      status.classList.add("insight-error");
    }
  };
  await load();
  refresh?.stop();
  refresh = every(5000, load, root);
}

export function dispose() {
  refresh?.stop();
  refresh = null;
}

function page(health, ctx, t) {
  return [
    ctx.el(
      "div",
      { class: `health-banner status-${health.status}`, "data-test": "health-status", "data-status": health.status },
      `${t(health.status)}: ${health.reason}`,
      ctx.el("div", { class: "insight-note", text: t("checkedAt", { time: ctx.formatTime(health.checked_at) }) }),
    ),
    ctx.el("div", { class: "health-cards" }, backboneCard(health.backbone, ctx, t), storeCard(health.store, ctx, t)),
    ctx.el("h2", { text: t("stages") }),
    stagesTable(health.stages, ctx, t),
    ctx.el("h2", { text: t("catalog") }),
    catalogPart(health.rules, ctx, t),
  ];
}

function card(ctx, t, { test, heading, part, rows, extra }) {
  return ctx.el(
    "section",
    { class: "health-card", "data-test": test, "data-status": part.status },
    ctx.el("h3", {}, statusDot(ctx, part.status, t(part.status)), heading),
    ctx.el("p", { class: "insight-note", "data-test": `${test}-reason`, text: part.reason }),
    ctx.el(
      "dl",
      {},
      rows.filter(([, value]) => value !== undefined && value !== null).map(([name, value]) => [
        ctx.el("dt", { text: name }),
        ctx.el("dd", {}, value),
      ]),
    ),
    extra || null,
  );
}

function backboneCard(part, ctx, t) {
  const rows = [[t("kind"), part.kind]];
  let extra = null;
  if (part.kind === "embedded") {
    rows.push([t("path"), part.path], [t("size"), formatBytes(ctx.lang, part.size_bytes)]);
    if (part.disk_free_bytes !== undefined) {
      rows.push([t("diskFree"), `${formatBytes(ctx.lang, part.disk_free_bytes)} / ${formatBytes(ctx.lang, part.disk_total_bytes)}`]);
    }
  } else if (part.kind === "kafka") {
    rows.push([t("brokers"), (part.bootstrap || []).join(", ")]);
    extra = ctx.el(
      "div",
      {},
      ctx.el(
        "ul",
        { "data-test": "health-brokers" },
        (part.brokers || []).map((broker) =>
          ctx.el(
            "li",
            { "data-test": "health-broker", "data-reachable": String(broker.reachable) },
            statusDot(ctx, broker.reachable ? "green" : "red", broker.reachable ? t("reachable") : t("unreachable", { error: broker.error })),
            ` ${broker.node_id === null ? t("notInCluster") : `#${broker.node_id}`} ${broker.host}:${broker.port} — `,
            broker.reachable ? t("reachable") : t("unreachable", { error: broker.error }),
          ),
        ),
      ),
      ctx.el("details", {},
        ctx.el("summary", { text: `${t("topics")} (${(part.topics || []).length})` }),
        ctx.el("ul", {}, (part.topics || []).map((topic) =>
          ctx.el("li", {}, `${topic.name}: `, topic.present ? t("partitions", { count: topic.partitions }) : t("topicMissing"),
            topic.problems?.length ? ` — ${topic.problems.join("; ")}` : ""),
        )),
      ),
    );
  }
  return card(ctx, t, { test: "health-backbone", heading: t("backbone"), part, rows, extra });
}

function storeCard(part, ctx, t) {
  const rows = [[t("dialect"), part.dialect], [t("path"), part.path], [t("size"), part.size_bytes === undefined ? undefined : formatBytes(ctx.lang, part.size_bytes)]];
  if (part.disk_free_bytes !== undefined) {
    rows.push([t("diskFree"), `${formatBytes(ctx.lang, part.disk_free_bytes)} / ${formatBytes(ctx.lang, part.disk_total_bytes)}`]);
  }
  if (part.index_failures !== undefined) rows.push([t("indexFailures"), formatCount(ctx.lang, part.index_failures)]);
  return card(ctx, t, { test: "health-store", heading: t("store"), part, rows });
}

function stagesTable(stages, ctx, t) {
  const rows = [];
  for (const stage of stages) {
    const alive = stage.alive === true ? t("yes") : stage.alive === false ? t("no") : t("unknown");
    rows.push(
      ctx.el(
        "tr",
        { "data-test": "health-stage", "data-stage": stage.name, "data-status": stage.status, "data-alive": String(stage.alive) },
        ctx.el("td", {}, statusDot(ctx, stage.status, t(stage.status)), " ", stage.name),
        ctx.el("td", { "data-test": "health-stage-runs-in", text: t(stage.runs_in, { worker: stage.worker || "" }) }),
        ctx.el("td", { class: "num", text: stage.pid ?? "—" }),
        ctx.el("td", { "data-test": "health-stage-alive", text: alive }),
        ctx.el("td", { class: "num", text: formatCount(ctx.lang, stage.restarts) }),
        ctx.el("td", { class: "num", "data-test": "health-stage-lag", text: formatCount(ctx.lang, stage.lag_total) }),
        ctx.el("td", { text: stage.reason }),
      ),
    );
    const groups = Object.entries(stage.lag || {});
    if (groups.length > 1 || stage.name === "delivery") {
      for (const [group, topics] of groups) {
        const detail = Object.entries(topics).map(([topic, count]) => `${topic}: ${formatCount(ctx.lang, count)}`).join(", ");
        rows.push(ctx.el("tr", { class: "sub" }, ctx.el("td", {}, `↳ ${group}`), ctx.el("td", { colspan: 6, text: detail })));
      }
    }
  }
  return ctx.el(
    "table",
    { class: "insight-table", "data-test": "health-stages" },
    ctx.el("thead", {}, ctx.el("tr", {}, ["stage", "runsIn", "pid", "alive", "restarts", "lag", "status"].map((key) =>
      ctx.el("th", { class: ["pid", "restarts", "lag"].includes(key) ? "num" : null, text: t(key) })))),
    ctx.el("tbody", {}, rows),
  );
}

function catalogPart(catalog, ctx, t) {
  return ctx.el(
    "section",
    { class: "health-card", "data-test": "health-catalog", "data-digest": catalog.digest },
    ctx.el("dl", {},
      ctx.el("dt", { text: t("digest") }), ctx.el("dd", {}, ctx.el("code", { text: catalog.digest })),
      ctx.el("dt", { text: t("loaded") }), ctx.el("dd", { text: t("counts", { routes: catalog.routes, endpoints: catalog.endpoints, senders: catalog.senders }) }),
    ),
    ctx.el("h3", { text: `${t("schemas")} (${catalog.schemas.length})` }),
    ctx.el("table", { class: "insight-table" },
      ctx.el("thead", {}, ctx.el("tr", {}, ctx.el("th", { text: t("name") }), ctx.el("th", { text: t("version") }), ctx.el("th", { text: t("namespace") }))),
      ctx.el("tbody", {}, catalog.schemas.map((s) => ctx.el("tr", { "data-test": "health-schema" },
        ctx.el("td", { title: s.title || "", text: s.name }), ctx.el("td", { text: s.version }), ctx.el("td", { text: s.namespace })))),
    ),
    ctx.el("h3", { text: `${t("adapters")} (${catalog.adapters.length})` }),
    ctx.el("table", { class: "insight-table" },
      ctx.el("thead", {}, ctx.el("tr", {}, ctx.el("th", { text: t("name") }), ctx.el("th", { text: t("version") }), ctx.el("th", { text: t("kind") }), ctx.el("th", { text: t("translates") }))),
      ctx.el("tbody", {}, catalog.adapters.map((a) => ctx.el("tr", { "data-test": "health-adapter" },
        ctx.el("td", { text: a.name }), ctx.el("td", { text: a.version }), ctx.el("td", { text: a.kind }), ctx.el("td", { text: `${a.source} → ${a.target}` })))),
    ),
  );
}

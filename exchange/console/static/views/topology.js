// Topology: senders → message types → routes → endpoints, drawn as an SVG graph of four
// columns, each edge with its adapter chain (route → endpoint), its rate and its errors.
// Below the graph the same edges as a table (readable when the graph is large).

import { every, formatCount, formatRate, problemText, useStyles } from "./insight-parts.js";

export const title = { en: "Topology", zh: "拓扑" };

export const labels = {
  en: {
    heading: "Who sends what to whom",
    intro: "From the routes, endpoints and sender permissions the hub loaded. Line width follows the traffic; red lines had errors in the window.",
    window: "Rates over",
    w60: "last minute",
    w300: "last 5 minutes",
    w3600: "last hour",
    w86400: "last day",
    sender: "Senders",
    type: "Message types",
    route: "Routes",
    endpoint: "Endpoints",
    one_sender: "sender",
    one_type: "type",
    one_route: "route",
    one_endpoint: "endpoint",
    perSecond: "{rate}/s",
    errors: "{count} errors",
    noErrors: "no errors",
    direct: "no translation",
    resolved: "chain resolved from the types",
    conditional: "only messages that meet its conditions",
    wildcard: "may send any type",
    broken: "no adapter chain: {reason}",
    legendBusy: "traffic",
    legendErrors: "errors in the window",
    legendConditional: "route with conditions",
    legendIdle: "no traffic",
    edges: "Connections",
    from: "From",
    to: "To",
    adapters: "Adapter chain",
    rate: "Rate",
    errorCount: "Errors",
    delivered: "Delivered",
    accepted: "Sent",
    empty: "The hub has no routes loaded: add them in routes/ and restart it.",
    failed: "Could not load the topology: {reason}",
  },
  zh: {
    heading: "谁向谁发送什么",
    intro: "依据枢纽加载的路由、端点和发送方权限绘制。线条粗细表示流量；红色线条表示所选时间段内出现过错误。",
    window: "速率统计区间",
    w60: "最近1分钟",
    w300: "最近5分钟",
    w3600: "最近1小时",
    w86400: "最近1天",
    sender: "发送方",
    type: "消息类型",
    route: "路由",
    endpoint: "接收端点",
    one_sender: "发送方",
    one_type: "类型",
    one_route: "路由",
    one_endpoint: "端点",
    perSecond: "{rate}/秒",
    errors: "{count} 个错误",
    noErrors: "无错误",
    direct: "无需转换",
    resolved: "转换链按类型自动解析",
    conditional: "仅满足条件的消息",
    wildcard: "可发送任何类型",
    broken: "没有可用的适配器链：{reason}",
    legendBusy: "有流量",
    legendErrors: "区间内有错误",
    legendConditional: "带条件的路由",
    legendIdle: "无流量",
    edges: "连接",
    from: "从",
    to: "到",
    adapters: "适配器链",
    rate: "速率",
    errorCount: "错误",
    delivered: "已投递",
    accepted: "已发送",
    empty: "枢纽未加载任何路由：请在 routes/ 中添加后重启。",
    failed: "无法加载拓扑：{reason}",
  },
};

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 200;
const NODE_H = 54;
const ROW_GAP = 14;
// A column of more nodes than this is drawn compact: two lines a node, closer together.
const COMPACT_FROM = 16;
const COMPACT_H = 36;
const COMPACT_GAP = 8;
const TOP = 36;
const COLUMN_GAPS = [110, 110, 270]; // the last gap leaves room for the adapter chains
const WINDOWS = [60, 300, 3600, 86400];

let refresh = null;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clip(text, length) {
  const value = String(text ?? "");
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}

export async function render(root, params, ctx) {
  useStyles();
  const t = (key, vars) => ctx.t(labels, key, vars);
  const windowS = WINDOWS.includes(Number(params.query.get("window"))) ? Number(params.query.get("window")) : 60;
  const picker = ctx.el(
    "select",
    {
      "data-test": "topology-window",
      onchange: (event) => ctx.navigate(`#/topology?window=${event.target.value}`),
    },
    WINDOWS.map((w) => ctx.el("option", { value: String(w), selected: w === windowS, text: t(`w${w}`) })),
  );
  const graphBox = ctx.el("div", { class: "topology-scroll" });
  const tableBox = ctx.el("div");
  const status = ctx.el("p", { class: "insight-note", "aria-live": "polite" });
  root.append(
    ctx.el("h1", { text: t("heading") }),
    ctx.el("p", { class: "insight-note", text: t("intro") }),
    ctx.el("div", { class: "insight-toolbar" }, ctx.el("label", {}, t("window"), picker)),
    legend(ctx, t),
    status,
    graphBox,
    ctx.el("h2", { text: t("edges") }),
    tableBox,
  );

  const load = async () => {
    try {
      const topology = await ctx.api(`topology?window=${windowS}`);
      status.textContent = "";
      status.classList.remove("insight-error");
      graphBox.replaceChildren(draw(topology, ctx, t));
      tableBox.replaceChildren(edgeTable(topology, ctx, t));
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

function legend(ctx, t) {
  return ctx.el(
    "div",
    { class: "topology-legend" },
    ctx.el("span", { class: "busy", text: t("legendBusy") }),
    ctx.el("span", { class: "errors", text: t("legendErrors") }),
    ctx.el("span", { class: "conditional", text: t("legendConditional") }),
    ctx.el("span", { text: t("legendIdle") }),
  );
}

// -- layout: columns, ordered so that connected nodes sit level with each other ------------

function layout(topology) {
  const columns = topology.columns.map((column) => topology.nodes.filter((n) => n.column === column));
  const before = new Map();
  const after = new Map();
  for (const node of topology.nodes) {
    before.set(node.id, []);
    after.set(node.id, []);
  }
  for (const edge of topology.edges) {
    after.get(edge.from)?.push(edge.to);
    before.get(edge.to)?.push(edge.from);
  }
  const position = new Map();
  const number = () => columns.forEach((nodes) => nodes.forEach((n, i) => position.set(n.id, i)));
  const sortBy = (nodes, neighbours) => {
    const centre = (node) => {
      const linked = neighbours.get(node.id).map((id) => position.get(id)).filter((p) => p !== undefined);
      return linked.length ? linked.reduce((a, b) => a + b, 0) / linked.length : Number.MAX_SAFE_INTEGER;
    };
    const keyed = nodes.map((node, i) => ({ node, key: centre(node), i }));
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    return keyed.map((k) => k.node);
  };
  number();
  for (let sweep = 0; sweep < 3; sweep += 1) {
    for (let c = 1; c < columns.length; c += 1) {
      columns[c] = sortBy(columns[c], before);
      number();
    }
    for (let c = columns.length - 2; c >= 0; c -= 1) {
      columns[c] = sortBy(columns[c], after);
      number();
    }
  }
  const tallest = Math.max(1, ...columns.map((nodes) => nodes.length));
  const compact = tallest > COMPACT_FROM;
  const h = compact ? COMPACT_H : NODE_H;
  const gap = compact ? COMPACT_GAP : ROW_GAP;
  const height = TOP + tallest * (h + gap) + 20;
  const boxes = new Map();
  let x = 20;
  columns.forEach((nodes, c) => {
    const used = nodes.length * (h + gap) - gap;
    const start = TOP + Math.max(0, (tallest * (h + gap) - gap - used) / 2);
    nodes.forEach((node, i) => boxes.set(node.id, { x, y: start + i * (h + gap), h, compact, node }));
    x += NODE_W + (COLUMN_GAPS[c] ?? 0);
  });
  return { columns, boxes, width: x + 20, height }; // x: the last column's right edge
}

// -- drawing ----------------------------------------------------------------------------------

function draw(topology, ctx, t) {
  if (!topology.nodes.length) return ctx.el("p", { class: "insight-note", text: t("empty") });
  const { columns, boxes, width, height } = layout(topology);
  const graph = svg("svg", {
    class: "topology-graph",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": t("heading"),
    "data-test": "topology-graph",
  });
  columns.forEach((nodes, c) => {
    const column = topology.columns[c];
    const x = 20 + c * NODE_W + COLUMN_GAPS.slice(0, c).reduce((a, b) => a + b, 0);
    graph.append(svg("text", { class: "column-title", x, y: 18 }, `${t(column)} (${nodes.length})`));
  });
  const edgeLayer = svg("g", { class: "edges" });
  const nodeLayer = svg("g", { class: "nodes" });
  const edgeNodes = [];
  // Where each chain's label goes: at the end of its line that fewer chains share (the
  // endpoint's in the demo, the route's when many routes reach one endpoint), stacked there.
  const into = new Map();
  const outOf = new Map();
  for (const edge of topology.edges) {
    if (edge.adapters === undefined) continue;
    into.set(edge.to, [...(into.get(edge.to) || []), edge.id]);
    outOf.set(edge.from, [...(outOf.get(edge.from) || []), edge.id]);
  }
  const placing = new Map();
  for (const edge of topology.edges) {
    if (edge.adapters === undefined) continue;
    const atTarget = into.get(edge.to).length <= outOf.get(edge.from).length;
    const shared = atTarget ? into.get(edge.to) : outOf.get(edge.from);
    placing.set(edge.id, { atTarget, index: shared.indexOf(edge.id) });
  }
  for (const edge of topology.edges) {
    const from = boxes.get(edge.from);
    const to = boxes.get(edge.to);
    if (!from || !to) continue;
    const drawn = drawEdge(edge, from, to, placing.get(edge.id), ctx, t);
    edgeNodes.push({ edge, drawn });
    edgeLayer.append(drawn);
  }
  for (const node of topology.nodes) {
    const box = boxes.get(node.id);
    const drawn = drawNode(node, box, ctx, t);
    drawn.addEventListener("mouseenter", () => highlight(node.id, topology, edgeNodes, nodeLayer));
    drawn.addEventListener("mouseleave", () => highlight(null, topology, edgeNodes, nodeLayer));
    nodeLayer.append(drawn);
  }
  graph.append(edgeLayer, nodeLayer);
  return graph;
}

function drawNode(node, box, ctx, t) {
  const traffic = node.traffic || {};
  const busy = traffic.count > 0;
  const sub = node.column === "endpoint" ? `${node.kind} · ${node.format}` : node.title || "";
  const figures = busy || traffic.errors
    ? `${t("perSecond", { rate: formatRate(ctx.lang, traffic.rate) })} · ${traffic.errors ? t("errors", { count: formatCount(ctx.lang, traffic.errors) }) : t("noErrors")}`
    : node.column === "route" && node.xpath?.length ? t("conditional") : "";
  const group = svg(
    "g",
    {
      class: `node ${node.column}${traffic.errors ? " has-errors" : ""}`,
      transform: `translate(${box.x},${box.y})`,
      "data-test": "topology-node",
      "data-node": node.id,
      tabindex: 0,
    },
    svg("title", {}, [node.name, node.title, sub !== node.title ? sub : null, figures].filter(Boolean).join("\n")),
    svg("rect", { width: NODE_W, height: box.h, rx: 6 }),
    svg("text", { x: 8, y: 15 }, clip(node.name, 30)),
    // compact: the title only in the tooltip
    box.compact ? null : svg("text", { class: "sub", x: 8, y: 32 }, clip(sub, 36)),
    svg("text", { class: "sub", x: 8, y: box.compact ? 29 : 46 }, clip(figures, 36)),
  );
  return group;
}

function edgeText(edge, ctx, t) {
  const traffic = edge.traffic || {};
  const parts = [];
  if (edge.adapters !== undefined) {
    if (edge.chain_error) parts.push(t("broken", { reason: edge.chain_error }));
    else parts.push(edge.adapters.length ? edge.adapters.map((a) => a.name).join(" › ") : t("direct"));
  }
  if (traffic.count > 0) parts.push(t("perSecond", { rate: formatRate(ctx.lang, traffic.rate) }));
  if (traffic.errors > 0) parts.push(t("errors", { count: formatCount(ctx.lang, traffic.errors) }));
  return parts.join(" · ");
}

function drawEdge(edge, from, to, place, ctx, t) {
  const traffic = edge.traffic || {};
  const x1 = from.x + NODE_W;
  const y1 = from.y + from.h / 2;
  const x2 = to.x;
  const y2 = to.y + to.h / 2;
  const bend = (x2 - x1) / 2;
  const widthPx = 1.5 + Math.min(6, Math.log2(1 + (traffic.rate || 0) * 10));
  const classes = ["edge"];
  if (traffic.count > 0) classes.push("busy");
  if (traffic.errors > 0) classes.push("errors");
  if (edge.conditional) classes.push("conditional");
  if (edge.chain_error) classes.push("broken");
  const label = edgeText(edge, ctx, t);
  const long = [
    `${edge.from} → ${edge.to}`,
    edge.adapters?.map((a) => `${a.name} ${a.version} (${a.kind}): ${a.source} → ${a.target}`).join("\n"),
    edge.chain_resolved && edge.adapters?.length ? t("resolved") : null,
    edge.conditional ? t("conditional") : null,
    edge.wildcard ? t("wildcard") : null,
    label,
  ].filter(Boolean).join("\n");
  const group = svg(
    "g",
    { class: classes.join(" "), "data-test": "topology-line", "data-edge": edge.id },
    svg("title", {}, long),
    svg("path", {
      d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
      "stroke-width": widthPx.toFixed(1),
    }),
  );
  if (label && (edge.adapters !== undefined || traffic.count > 0 || traffic.errors > 0)) {
    // A chain sits just above its line where it meets a node (lines meet nodes level);
    // other labels mid-way.
    let attrs = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" };
    if (place?.atTarget) attrs = { x: x2 - 8, y: y2 - 5 - 12 * place.index, "text-anchor": "end" };
    else if (place) attrs = { x: x1 + 8, y: y1 - 5 + 12 * place.index, "text-anchor": "start" };
    group.append(svg("text", attrs, clip(label, 46)));
  }
  return group;
}

function highlight(id, topology, edgeNodes, nodeLayer) {
  if (id === null) {
    edgeNodes.forEach(({ drawn }) => drawn.classList.remove("dim"));
    nodeLayer.querySelectorAll(".node").forEach((n) => n.classList.remove("dim"));
    return;
  }
  // Everything upstream and downstream of the node: the paths its messages take.
  const keep = new Set([id]);
  const walk = (start, forward) => {
    const queue = [start];
    while (queue.length) {
      const current = queue.shift();
      for (const edge of topology.edges) {
        const [near, far] = forward ? [edge.from, edge.to] : [edge.to, edge.from];
        if (near === current && !keep.has(far)) {
          keep.add(far);
          queue.push(far);
        }
      }
    }
  };
  walk(id, true);
  walk(id, false);
  edgeNodes.forEach(({ edge, drawn }) => drawn.classList.toggle("dim", !(keep.has(edge.from) && keep.has(edge.to))));
  nodeLayer.querySelectorAll(".node").forEach((n) => n.classList.toggle("dim", !keep.has(n.dataset.node)));
}

// -- the same as a table -------------------------------------------------------------------

function edgeTable(topology, ctx, t) {
  const names = new Map(topology.nodes.map((n) => [n.id, n]));
  const rows = topology.edges.map((edge) => {
    const traffic = edge.traffic || {};
    const chain = edge.adapters === undefined ? "" : edge.chain_error
      ? t("broken", { reason: edge.chain_error })
      : edge.adapters.length
        ? edge.adapters.map((a) => `${a.name} ${a.version}`).join(" › ")
        : t("direct");
    const from = names.get(edge.from);
    const to = names.get(edge.to);
    return ctx.el(
      "tr",
      { "data-test": "topology-edge", "data-edge": edge.id },
      ctx.el("td", { title: from?.title || "" }, ctx.el("span", { class: "insight-note", text: `${t(`one_${from?.column}`)} ` }), from?.name),
      ctx.el("td", { title: to?.title || "" }, ctx.el("span", { class: "insight-note", text: `${t(`one_${to?.column}`)} ` }), to?.name),
      ctx.el("td", { "data-test": "topology-chain" }, chain, edge.conditional ? ` (${t("conditional")})` : ""),
      ctx.el("td", { class: "num" }, t("perSecond", { rate: formatRate(ctx.lang, traffic.rate) })),
      ctx.el("td", { class: "num" }, formatCount(ctx.lang, traffic.errors ?? 0)),
    );
  });
  return ctx.el(
    "table",
    { class: "insight-table", "data-test": "topology-edges" },
    ctx.el(
      "thead",
      {},
      ctx.el(
        "tr",
        {},
        ctx.el("th", { text: t("from") }),
        ctx.el("th", { text: t("to") }),
        ctx.el("th", { text: t("adapters") }),
        ctx.el("th", { class: "num", text: t("rate") }),
        ctx.el("th", { class: "num", text: t("errorCount") }),
      ),
    ),
    ctx.el("tbody", {}, rows),
  );
}

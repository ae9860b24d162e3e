// Pieces the topology, health and statistics pages share: their stylesheet, a status dot,
// number formats and a refresh timer that stops when the page is left.

let styled = false;

export function useStyles() {
  if (styled) return;
  styled = true;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/console/static/views/insight.css";
  document.head.append(link);
}

export function statusDot(ctx, status, label) {
  return ctx.el("span", {
    class: `status-dot status-${status}`,
    title: label,
    "aria-label": label,
    role: "img",
  });
}

export function formatCount(lang, value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB").format(value);
}

export function formatRate(lang, perSecond) {
  if (!perSecond) return "0";
  const digits = perSecond >= 10 ? 0 : perSecond >= 1 ? 1 : 2;
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB", {
    maximumFractionDigits: digits,
    minimumFractionDigits: 0,
  }).format(perSecond);
}

export function formatBytes(lang, bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 || value >= 100 ? Math.round(value) : value.toFixed(1);
  return `${shown} ${units[unit]}`;
}

// Calls `tick` every `ms` while `root` (the view's <main>) is on the page; `stop()` ends it
// sooner (a view's dispose).  A view left while its first load was still running stops too.
export function every(ms, tick, root) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    if (stopped || !root.isConnected) return;
    try {
      await tick();
    } finally {
      if (!stopped && root.isConnected) timer = setTimeout(run, ms);
    }
  };
  timer = setTimeout(run, ms);
  return {
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}

export function problemText(ctx, labels, failure) {
  return ctx.t(labels, "failed", { reason: failure?.message || String(failure) });
}

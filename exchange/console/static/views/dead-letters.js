// Dead letters: what the hub gave up on, filtered, a page at a time; an operator replays one,
// the selected or all matching the filter (after a confirmation with the count), or
// discards them with a reason.  A viewer sees the list without any action.
// The filter lives in the hash (#/dead-letters?endpoint=…&reason=…), so a view can be shared.

export const title = { en: "Dead letters", zh: "死信" };

export const labels = {
  en: {
    heading: "Dead letters",
    intro: "Deliveries and messages the hub gave up on. Fix the cause (the receiver, the route), then replay them.",
    endpoint: "Endpoint", anyEndpoint: "any endpoint",
    stage: "Stage", anyStage: "any stage", stage_route: "routing", stage_deliver: "delivery",
    reason: "Reason contains", reasonColumn: "Reason", reasonHint: "e.g. 400",
    includeReplayed: "include replayed", includeDiscarded: "include discarded",
    apply: "Filter", clear: "Clear",
    age: "Age", failedAt: "Dead-lettered", message: "Message", replays: "Replays", state: "State",
    select: "Select", selectAll: "Select all on this page",
    replay: "Replay", replaySelected: "Replay selected ({n})", replayMatching: "Replay all matching…",
    discardSelected: "Discard selected ({n})…",
    waiting: "waiting", replayed: "replayed", discarded: "discarded by {by}: {reason}",
    none: "No dead letters match. Nothing waits for an operator.",
    more: "Show more",
    counting: "Counting…",
    confirmReplay: "Replay {n} dead letters?", confirmReplay_one: "Replay 1 dead letter?",
    confirmReplayOne: "Replay this dead letter?",
    confirmReplayHint: "Each goes back where it failed, with a new first attempt. Make sure the cause is fixed.",
    confirmDiscard: "Discard {n} dead letters?", confirmDiscard_one: "Discard 1 dead letter?",
    discardHint: "They stay on record but are never replayed. Say why (required):",
    discardReason: "Reason",
    reasonRequired: "A reason is required.",
    nothingMatches: "No dead letter matches this filter: there is nothing to replay.",
    confirm: "Confirm", cancel: "Cancel",
    didReplay: "Replayed {n} dead letters, as {by}.", didReplay_one: "Replayed 1 dead letter, as {by}.",
    didDiscard: "Discarded {n} dead letters, as {by}.", didDiscard_one: "Discarded 1 dead letter, as {by}.",
    changed: "The matching set changed ({n} now match): nothing was replayed. Look again and confirm.",
    failed: "The hub refused: {error}",
    viewerNote: "You are signed in as a viewer: you can look, not replay or discard.",
    shown: "{n} shown",
  },
  zh: {
    heading: "死信",
    intro: "交换中心放弃投递的副本和消息。先排除原因（接收方、路由），再重放。",
    endpoint: "端点", anyEndpoint: "全部端点",
    stage: "阶段", anyStage: "全部阶段", stage_route: "路由", stage_deliver: "投递",
    reason: "原因包含", reasonColumn: "原因", reasonHint: "例如 400",
    includeReplayed: "包括已重放", includeDiscarded: "包括已丢弃",
    apply: "筛选", clear: "清除",
    age: "时长", failedAt: "进入死信", message: "消息", replays: "重放次数", state: "状态",
    select: "选择", selectAll: "全选本页",
    replay: "重放", replaySelected: "重放所选（{n}）", replayMatching: "重放全部匹配…",
    discardSelected: "丢弃所选（{n}）…",
    waiting: "待处理", replayed: "已重放", discarded: "已由 {by} 丢弃：{reason}",
    none: "没有匹配的死信，无需处理。",
    more: "显示更多",
    counting: "正在计数…",
    confirmReplay: "重放 {n} 条死信？",
    confirmReplayOne: "重放这条死信？",
    confirmReplayHint: "每条都回到失败的位置，重新从第 1 次尝试开始。请先确认原因已排除。",
    confirmDiscard: "丢弃 {n} 条死信？",
    discardHint: "丢弃的死信保留记录，但不会再重放。请说明原因（必填）：",
    discardReason: "原因",
    reasonRequired: "必须填写原因。",
    nothingMatches: "没有符合筛选条件的死信，无可重放。",
    confirm: "确认", cancel: "取消",
    didReplay: "已以 {by} 身份重放 {n} 条死信。",
    didDiscard: "已以 {by} 身份丢弃 {n} 条死信。",
    changed: "匹配的死信已变化（现为 {n} 条），未重放任何死信。请重新查看并确认。",
    failed: "交换中心拒绝了操作：{error}",
    viewerNote: "您以只读身份登录：可以查看，不能重放或丢弃。",
    shown: "已显示 {n} 条",
  },
};

const FILTER_KEYS = ["endpoint", "stage", "reason", "include_replayed", "include_discarded"];

let disposed = false;

export function dispose() {
  disposed = true;
}

function filterOf(query) {
  const filter = {};
  for (const key of FILTER_KEYS) {
    const value = query.get(key);
    if (value) filter[key] = value;
  }
  return filter;
}

function queryString(filter, extra = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...filter, ...extra })) {
    if (value !== undefined && value !== null && value !== "" && value !== false) query.set(key, String(value));
  }
  return query.toString();
}

export async function render(root, params, ctx) {
  disposed = false;
  const { el } = ctx;
  const t = (key, vars) => ctx.t(labels, key, vars);
  // English says "1 dead letter" but "2 dead letters"; Chinese has one form (no _one label).
  const tn = (key, n, vars = {}) =>
    ctx.t(labels, n === 1 && labels[ctx.lang]?.[`${key}_one`] ? `${key}_one` : key, { n, ...vars });
  const filter = filterOf(params.query);
  const selected = new Set();
  let cursor = null;
  let shownCount = 0;

  const notice = el("p", { class: "notice", role: "status", "data-test": "notice", hidden: true });
  const say = (text, bad = false) => {
    notice.textContent = text;
    notice.className = bad ? "notice error" : "notice";
    notice.hidden = false;
  };

  const first = await ctx.api(`dead-letters?${queryString(filter)}`);
  if (disposed) return;

  // -- the filter --------------------------------------------------------------------------
  const endpointSelect = el("select", { "data-test": "filter-endpoint", name: "endpoint" },
    el("option", { value: "" }, t("anyEndpoint")),
    first.endpoints.map((name) => el("option", { value: name, selected: filter.endpoint === name }, name)));
  const stageSelect = el("select", { "data-test": "filter-stage", name: "stage" },
    el("option", { value: "" }, t("anyStage")),
    first.stages.map((name) => el("option", { value: name, selected: filter.stage === name }, t(`stage_${name}`))));
  const reasonInput = el("input", {
    type: "search", "data-test": "filter-reason", name: "reason", value: filter.reason || "",
    placeholder: t("reasonHint"),
  });
  const replayedBox = el("input", { type: "checkbox", "data-test": "filter-replayed", checked: Boolean(filter.include_replayed) });
  const discardedBox = el("input", { type: "checkbox", "data-test": "filter-discarded", checked: Boolean(filter.include_discarded) });
  const applyFilter = (event) => {
    event.preventDefault();
    ctx.navigate(`#/dead-letters?${queryString({
      endpoint: endpointSelect.value, stage: stageSelect.value, reason: reasonInput.value.trim(),
      include_replayed: replayedBox.checked, include_discarded: discardedBox.checked,
    })}`);
  };
  const filterForm = el("form", { class: "toolbar", "data-test": "filter", onsubmit: applyFilter },
    el("label", {}, t("endpoint"), endpointSelect),
    el("label", {}, t("stage"), stageSelect),
    el("label", {}, t("reason"), reasonInput),
    el("label", { class: "check" }, el("span", {}, t("includeReplayed")), replayedBox),
    el("label", { class: "check" }, el("span", {}, t("includeDiscarded")), discardedBox),
    el("button", { type: "submit", class: "btn", "data-test": "apply-filter" }, t("apply")),
    el("button", { type: "button", class: "btn", "data-test": "clear-filter", onclick: () => ctx.navigate("#/dead-letters") },
      t("clear")));

  // -- actions (operators only) ------------------------------------------------------------
  const replaySelectedButton = el("button", {
    type: "button", class: "btn primary", "data-test": "replay-selected", disabled: true,
    onclick: () => replayIds([...selected]),
  }, t("replaySelected", { n: 0 }));
  const discardSelectedButton = el("button", {
    type: "button", class: "btn danger", "data-test": "discard-selected", disabled: true,
    onclick: () => discardIds([...selected]),
  }, t("discardSelected", { n: 0 }));
  const replayMatchingButton = el("button", {
    type: "button", class: "btn", "data-test": "replay-matching", onclick: () => replayMatching(),
  }, t("replayMatching"));
  const actions = ctx.canAct
    ? el("div", { class: "toolbar", "data-test": "actions" }, replaySelectedButton, discardSelectedButton, replayMatchingButton)
    : el("p", { class: "muted", "data-test": "viewer-note" }, t("viewerNote"));

  const refreshSelection = () => {
    replaySelectedButton.textContent = t("replaySelected", { n: selected.size });
    discardSelectedButton.textContent = t("discardSelected", { n: selected.size });
    replaySelectedButton.disabled = discardSelectedButton.disabled = selected.size === 0;
  };

  // -- the table ---------------------------------------------------------------------------
  const body = el("tbody", { "data-test": "dead-letter-rows" });
  const selectAll = el("input", {
    type: "checkbox", "data-test": "select-all", "aria-label": t("selectAll"),
    onchange: () => {
      for (const box of body.querySelectorAll("input[data-test=select]:not(:disabled)")) {
        box.checked = selectAll.checked;
        if (box.checked) selected.add(box.value); else selected.delete(box.value);
      }
      refreshSelection();
    },
  });
  const table = el("table", { class: "data", "data-test": "dead-letters-table" },
    el("thead", {}, el("tr", {},
      ctx.canAct ? el("th", {}, selectAll) : null,
      el("th", {}, t("age")),
      el("th", {}, t("reasonColumn")),
      el("th", {}, t("endpoint")),
      el("th", {}, t("stage")),
      el("th", {}, t("message")),
      el("th", { class: "num" }, t("replays")),
      el("th", {}, t("state")),
      ctx.canAct ? el("th", {}) : null)),
    body);
  const empty = el("p", { class: "empty", "data-test": "empty", hidden: true }, t("none"));
  const count = el("p", { class: "muted small", "data-test": "shown" });
  const more = el("button", { type: "button", class: "btn", "data-test": "more", hidden: true, onclick: () => loadMore() },
    t("more"));

  const now = Date.now();
  const row = (dead) => {
    const discarded = dead.discarded;
    const state = discarded ? el("span", { class: "badge idle", "data-test": "state", "data-state": "discarded" },
      t("discarded", { by: discarded.by, reason: discarded.reason }))
      : dead.replayed_at ? el("span", { class: "badge ok", "data-test": "state", "data-state": "replayed" }, t("replayed"))
        : el("span", { class: "badge bad", "data-test": "state", "data-state": "waiting" }, t("waiting"));
    const box = el("input", {
      type: "checkbox", value: dead.id, "data-test": "select", "aria-label": t("select"), disabled: Boolean(discarded),
      onchange: () => { if (box.checked) selected.add(dead.id); else selected.delete(dead.id); refreshSelection(); },
    });
    const age = now - new Date(dead.created_at).getTime();
    return el("tr", { "data-test": "dead-letter-row", "data-id": dead.id, "data-message": dead.message },
      ctx.canAct ? el("td", {}, box) : null,
      el("td", { title: ctx.formatTime(dead.created_at) }, ctx.formatDuration(age)),
      el("td", { class: "small", "data-test": "reason", style: { maxWidth: "38em", wordBreak: "break-word" } }, dead.reason),
      el("td", { "data-test": "endpoint" }, dead.endpoint || "—"),
      el("td", {}, t(`stage_${dead.stage}`)),
      el("td", {}, el("a", { href: `#/messages/${encodeURIComponent(dead.message)}`, "data-test": "message-link", class: "mono small" },
        dead.message_id || dead.message),
      dead.sender ? el("div", { class: "muted small" }, dead.sender) : null),
      el("td", { class: "num", "data-test": "replay-count" }, dead.replay_count),
      el("td", {}, state),
      ctx.canAct ? el("td", {}, discarded ? null : el("button", {
        type: "button", class: "btn", "data-test": "replay", onclick: () => replayIds([dead.id], true),
      }, t("replay"))) : null);
  };

  const show = (page, append) => {
    if (!append) { body.replaceChildren(); shownCount = 0; }
    body.append(...page.dead_letters.map(row));
    shownCount += page.dead_letters.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = shownCount > 0;
    table.hidden = shownCount === 0;
    count.textContent = t("shown", { n: shownCount });
  };

  async function loadMore() {
    more.disabled = true;
    try {
      show(await ctx.api(`dead-letters?${queryString(filter, { cursor })}`), true);
    } catch (error) {
      say(t("failed", { error: error.message }), true);
    } finally {
      more.disabled = false;
    }
  }

  async function reload() {
    selected.clear();
    selectAll.checked = false;
    refreshSelection();
    show(await ctx.api(`dead-letters?${queryString(filter)}`), false);
  }

  // -- confirmation ------------------------------------------------------------------------
  function confirmDialog({ question, hint, askReason }) {
    return new Promise((resolve) => {
      const reason = askReason ? el("textarea", { rows: 3, "data-test": "discard-reason", "aria-label": t("discardReason"), style: { width: "100%" } }) : null;
      const problem = el("p", { class: "error", "data-test": "dialog-error", hidden: true });
      const close = (value) => { dialog.close(); dialog.remove(); resolve(value); };
      const confirm = () => {
        if (!reason) return close({});
        const text = reason.value.trim();
        if (!text) { problem.textContent = t("reasonRequired"); problem.hidden = false; reason.focus(); return; }
        close({ reason: text });
      };
      // el() skips the reason's place (null) when none is asked for.
      const dialog = el("dialog", {
        "data-test": "confirm-dialog", style: { maxWidth: "34em", borderRadius: "6px", border: "1px solid #d9dee5" },
      },
      el("h2", { "data-test": "confirm-text" }, question),
      el("p", { class: "muted" }, hint),
      reason, problem,
      el("div", { class: "toolbar", style: { justifyContent: "flex-end", marginBottom: 0 } },
        el("button", { type: "button", class: "btn", "data-test": "cancel", onclick: () => close(null) }, t("cancel")),
        el("button", {
          type: "button", class: askReason ? "btn danger" : "btn primary", "data-test": "confirm", onclick: confirm,
        }, t("confirm"))));
      dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(null); });
      root.append(dialog);
      dialog.showModal();
      (reason || dialog.querySelector("[data-test=confirm]")).focus();
    });
  }

  async function act(call, done) {
    try {
      const answer = await call();
      say(done(answer));
    } catch (error) {
      if (error.status === 409 && error.problem?.count !== undefined) say(t("changed", { n: error.problem.count }), true);
      else say(t("failed", { error: error.message }), true);
    }
    if (!disposed) await reload();
  }

  async function replayIds(ids, one = false) {
    if (!ids.length) return;
    const yes = await confirmDialog({
      question: one ? t("confirmReplayOne") : tn("confirmReplay", ids.length), hint: t("confirmReplayHint"),
    });
    if (!yes) return;
    await act(() => ctx.api("dead-letters/replay", { method: "POST", body: { ids } }),
      (answer) => tn("didReplay", answer.replayed, { by: answer.by }));
  }

  async function replayMatching() {
    replayMatchingButton.disabled = true;
    const original = replayMatchingButton.textContent;
    replayMatchingButton.textContent = t("counting");
    let counted;
    try {
      counted = await ctx.api(`dead-letters/count?${queryString(filter)}`);
    } catch (error) {
      say(t("failed", { error: error.message }), true);
      return;
    } finally {
      replayMatchingButton.disabled = false;
      replayMatchingButton.textContent = original;
    }
    if (counted.count === 0) { say(t("nothingMatches")); return; }
    const yes = await confirmDialog({ question: tn("confirmReplay", counted.count), hint: t("confirmReplayHint") });
    if (!yes) return;
    await act(() => ctx.api("dead-letters/replay", { method: "POST", body: { filter, expect: counted.count } }),
      (answer) => tn("didReplay", answer.replayed, { by: answer.by }));
  }

  async function discardIds(ids) {
    if (!ids.length) return;
    const answer = await confirmDialog({ question: tn("confirmDiscard", ids.length), hint: t("discardHint"), askReason: true });
    if (!answer) return;
    await act(() => ctx.api("dead-letters/discard", { method: "POST", body: { ids, reason: answer.reason } }),
      (done) => tn("didDiscard", done.discarded, { by: done.by }));
  }

  root.append(
    el("h1", {}, t("heading")),
    el("p", { class: "muted" }, t("intro")),
    filterForm,
    actions,
    notice,
    table,
    empty,
    count,
    more);
  show(first, false);
}

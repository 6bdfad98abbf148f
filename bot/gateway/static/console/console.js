/* walletbot agent console. Plain JS, no build step.
 *
 * Rules kept throughout:
 *  - text from the server is only ever put into the page as text nodes (never innerHTML);
 *  - every state-changing call sends the session's CSRF token in X-CSRF-Token;
 *  - live updates arrive over Server-Sent Events (/api/agent/events); the queue is refetched on
 *    every `queue` event and every 20 s, so a missed event heals itself.
 */
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const PRIORITY_LABELS = { 0: "紧急", 1: "锁定", 2: "普通" };
  const STATE_LABELS = { queued: "排队中", assigned: "接待中", resolved: "已结束", timed_out: "排队超时", cancelled: "客户已取消排队" };
  const WALLET_LABELS = { active: "正常", locked: "已锁定", frozen: "已冻结" };
  const LOCK_REASONS = { pin_attempts: "支付密码连续输错", customer_fraud_report: "客户报告欺诈后冻结" };
  const SENDER_LABELS = { customer: "客户", bot: "智能客服", system: "系统" };
  const QUEUE_POLL_MS = 20000;
  const REPLY_MAX = 2000;

  const state = {
    me: null,
    csrf: "",
    tab: "waiting",
    queue: { waiting: [], assigned: [], agents: [], tickets_open: 0 },
    tickets: [],
    openId: null,
    conv: null,
    renderedMessages: new Set(),
    renderedNotes: new Set(),
    lastDay: "",
    unread: new Map(),
    canned: null,
    events: null,
    reconnectTimer: null,
    backoffMs: 1000,
    queueTimer: null,
    pollTimer: null,
    fetchedAt: 0,
    baseTitle: document.title,
  };

  /* ------------------------------------------------------------------ small helpers */

  /** Build an element; string children become text nodes, so server text can never become markup. */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const str = (value) => (typeof value === "string" ? value : "");

  function parseTime(value) {
    const t = Date.parse(str(value));
    return Number.isFinite(t) ? new Date(t) : null;
  }

  const pad = (n) => String(n).padStart(2, "0");
  const hhmm = (d) => pad(d.getHours()) + ":" + pad(d.getMinutes());

  function dayLabel(d) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (d.toDateString() === today.toDateString()) return "今天";
    if (d.toDateString() === yesterday.toDateString()) return "昨天";
    return (d.getMonth() + 1) + "月" + d.getDate() + "日";
  }

  function shortWhen(value) {
    const d = parseTime(value);
    if (!d) return "";
    const day = dayLabel(d);
    return (day === "今天" ? "" : day + " ") + hhmm(d);
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + "秒";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "分" + pad(s % 60) + "秒";
    return Math.floor(m / 60) + "小时" + (m % 60) + "分";
  }

  function lastChar(name) {
    const text = str(name).replace(/\*/g, "");
    return text ? text.slice(-1) : "客";
  }

  let toastTimer = null;
  function toast(message, kind) {
    const node = $("toast");
    node.textContent = message;
    node.className = "toast" + (kind ? " " + kind : "");
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, kind === "error" ? 4500 : 2500);
  }

  function confirmDialog(title, text, okLabel) {
    return new Promise((resolve) => {
      const modal = $("modal");
      $("modal-title").textContent = title;
      $("modal-text").textContent = text;
      $("modal-ok").textContent = okLabel || "确定";
      modal.hidden = false;
      $("modal-ok").focus();
      const done = (answer) => {
        modal.hidden = true;
        $("modal-ok").removeEventListener("click", ok);
        $("modal-cancel").removeEventListener("click", cancel);
        document.removeEventListener("keydown", onKey);
        resolve(answer);
      };
      const ok = () => done(true);
      const cancel = () => done(false);
      const onKey = (ev) => { if (ev.key === "Escape") done(false); };
      $("modal-ok").addEventListener("click", ok);
      $("modal-cancel").addEventListener("click", cancel);
      document.addEventListener("keydown", onKey);
    });
  }

  /* ------------------------------------------------------------------ API */

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRF-Token"] = state.csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (_) {
      throw new ApiError(0, "网络连接失败，请检查网络后重试。");
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : "操作失败（" + response.status + "），请稍后重试。";
      if (response.status === 401 && path !== "/api/agent/login" && state.me) signedOut();
      throw new ApiError(response.status, detail);
    }
    return data || {};
  }

  async function attempt(action, button) {
    if (button) button.disabled = true;
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) toast(error.message || "操作失败，请稍后重试。", "error");
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  /* ------------------------------------------------------------------ sign-in */

  function showLogin(message) {
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    const error = $("login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("login-password").value = "";
    setTimeout(() => ($("login-username").value ? $("login-password") : $("login-username")).focus(), 0);
  }

  function signedOut() {
    stopLive();
    state.me = null;
    state.csrf = "";
    state.openId = null;
    showLogin("登录已失效，请重新登录。");
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    const error = $("login-error");
    if (!username || !password) {
      error.textContent = "请输入用户名和密码。";
      error.hidden = false;
      return;
    }
    const button = $("login-submit");
    button.disabled = true;
    button.textContent = "登录中…";
    try {
      const data = await api("POST", "/api/agent/login", { username, password });
      enterConsole(data.agent, data.csrf_token);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      $("login-password").value = "";
      $("login-password").focus();
    } finally {
      button.disabled = false;
      button.textContent = "登录";
    }
  }

  function enterConsole(agent, csrf) {
    state.me = agent;
    state.csrf = csrf;
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    renderMe();
    refreshQueue();
    startLive();
  }

  async function logout() {
    const mine = state.queue.assigned.filter((item) => item.mine).length;
    if (mine && !(await confirmDialog("退出登录", "您还有 " + mine + " 位客户在接待中，退出后他们将回到排队队列的最前面。确定退出吗？", "退出"))) return;
    await attempt(() => api("POST", "/api/agent/logout"));
    stopLive();
    state.me = null;
    state.openId = null;
    closeConversation();
    showLogin("");
  }

  /* ------------------------------------------------------------------ top bar */

  function renderMe() {
    const me = state.me;
    if (!me) return;
    $("me-name").textContent = me.name;
    $("me-avatar").textContent = lastChar(me.name);
    $("status-online").setAttribute("aria-pressed", String(me.status === "online"));
    $("status-offline").setAttribute("aria-pressed", String(me.status !== "online"));
    $("stat-capacity").textContent = String(me.capacity);
  }

  async function setStatus(status) {
    if (!state.me || state.me.status === status) return;
    const data = await attempt(() => api("POST", "/api/agent/status", { status }));
    if (data && data.agent) {
      state.me = data.agent;
      renderMe();
      toast(status === "online" ? "已切换为在线，可以接入新客户。" : "已切换为离线，不再接入新客户。", "ok");
    }
  }

  function renderStats() {
    const q = state.queue;
    const mine = q.assigned.filter((item) => item.mine).length;
    $("stat-waiting").textContent = String(q.waiting.length);
    $("stat-mine").textContent = String(mine);
    $("stat-online").textContent = String(q.agents.filter((a) => a.online).length);
    $("stat-tickets").textContent = String(q.tickets_open || 0);
    $("stat-waiting").parentElement.classList.toggle("stat-alert", q.waiting.length > 0);
    $("count-waiting").textContent = String(q.waiting.length);
    $("count-waiting").classList.toggle("hot", q.waiting.some((item) => item.priority === 0));
    $("count-mine").textContent = String(mine);
    $("count-tickets").textContent = String(q.tickets_open || 0);
    const unread = [...state.unread.values()].reduce((a, b) => a + b, 0);
    const waiting = q.waiting.length;
    document.title = (waiting ? "(" + waiting + " 位排队) " : "") + (unread ? "【" + unread + " 条新消息】" : "") + state.baseTitle;
  }

  /* ------------------------------------------------------------------ queue */

  function scheduleQueueRefresh() {
    clearTimeout(state.queueTimer);
    state.queueTimer = setTimeout(refreshQueue, 250);
  }

  async function refreshQueue() {
    if (!state.me) return;
    try {
      const data = await api("GET", "/api/agent/queue");
      state.queue = {
        waiting: Array.isArray(data.waiting) ? data.waiting : [],
        assigned: Array.isArray(data.assigned) ? data.assigned : [],
        agents: Array.isArray(data.agents) ? data.agents : [],
        tickets_open: Number(data.tickets_open) || 0,
      };
      state.fetchedAt = Date.now();
      const meNow = state.queue.agents.find((a) => a.me);
      if (meNow && state.me && meNow.status !== state.me.status) {
        state.me = { ...state.me, status: meNow.status };
        renderMe();
      }
      if (state.tab === "tickets") await refreshTickets();
      renderStats();
      renderQueue();
      renderTransferOptions();
    } catch (_) { /* shown by api() when it matters */ }
  }

  async function refreshTickets() {
    const data = await api("GET", "/api/agent/tickets");
    state.tickets = Array.isArray(data.tickets) ? data.tickets : [];
  }

  function waitSpan(seconds) {
    const since = state.fetchedAt - seconds * 1000;
    return h("span", { class: "wait", dataset: { since: String(since) } }, duration(seconds));
  }

  function tickWaits() {
    const now = Date.now();
    for (const node of document.querySelectorAll(".wait[data-since]")) {
      const seconds = (now - Number(node.dataset.since)) / 1000;
      node.textContent = (node.dataset.prefix || "") + duration(seconds);
      node.classList.toggle("long", seconds >= 180 && seconds < 480);
      node.classList.toggle("very-long", seconds >= 480);
    }
  }

  function queueCard(item, kind) {
    const other = kind === "other";
    const unread = state.unread.get(item.conversation_id) || 0;
    const card = h(
      "div",
      {
        class: "qcard prio-" + item.priority + (item.conversation_id === state.openId ? " active" : "") + (other ? " other" : ""),
        role: other ? null : "button",
        tabindex: other ? null : "0",
        dataset: { id: item.conversation_id },
      },
      h("div", { class: "qcard-top" },
        h("span", { class: "prio prio-tag-" + item.priority }, PRIORITY_LABELS[item.priority] || "普通"),
        h("span", { class: "qname" }, str(item.customer) || "访客"),
        item.verified ? h("span", { class: "chip chip-verified" }, "已验证") : h("span", { class: "chip chip-visitor" }, "访客"),
        waitSpan(item.waiting_s || 0)),
      h("div", { class: "qcard-mid" },
        h("span", { class: "chip chip-channel" }, str(item.channel_label)),
        h("span", {}, str(item.reason_label)),
        kind === "waiting" && Number.isFinite(item.position) ? h("span", { class: "muted" }, "· 第 " + (item.position + 1) + " 位") : null,
        other && item.agent ? h("span", { class: "muted" }, "· " + str(item.agent.name) + " 接待中") : null),
      h("div", { class: "qpreview" }, str(item.preview) || "（客户还没有发言）"),
    );
    if (kind === "waiting") {
      const claim = h("button", { type: "button", class: "btn btn-primary btn-sm" }, "接入");
      claim.addEventListener("click", (ev) => {
        ev.stopPropagation();
        claimConversation(item.conversation_id, claim);
      });
      card.append(h("div", { class: "qcard-bottom" }, h("span", { class: "muted small" }, "可先点开查看聊天记录"), claim));
    } else if (kind === "mine" && unread) {
      card.append(h("div", { class: "qcard-bottom" }, h("span", { class: "muted small" }, "新消息"), h("span", { class: "unread" }, String(unread))));
    }
    if (!other) {
      const open = () => openConversation(item.conversation_id);
      card.addEventListener("click", open);
      card.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
    }
    return card;
  }

  function ticketCard(ticket) {
    const close = h("button", { type: "button", class: "btn btn-sm" }, "标记已处理");
    close.addEventListener("click", async (ev) => {
      ev.stopPropagation();
      const done = await attempt(() => api("POST", "/api/agent/tickets/" + encodeURIComponent(ticket.id) + "/close"), close);
      if (done) {
        toast("留言已标记为已处理。", "ok");
        refreshQueue();
      }
    });
    const card = h(
      "div",
      { class: "qcard", role: "button", tabindex: "0", dataset: { id: ticket.conversation_id } },
      h("div", { class: "qcard-top" },
        h("span", { class: "qname" }, "留言 #" + ticket.id),
        ticket.verified ? h("span", { class: "chip chip-verified" }, "已验证") : h("span", { class: "chip chip-visitor" }, "访客"),
        h("span", { class: "chip chip-channel" }, str(ticket.channel_label)),
        h("span", { class: "wait" }, shortWhen(ticket.created_at))),
      h("div", { class: "qcard-mid" }, h("span", {}, str(ticket.reason_label))),
      h("div", { class: "ticket-text" }, str(ticket.text) || "（空）"),
      ticket.callback ? h("div", { class: "ticket-callback" }, "回电号码：" + str(ticket.callback)) : null,
      h("div", { class: "ticket-foot" }, h("span", {}, "约定联系：" + (shortWhen(ticket.contact_after) || "尽快")), close),
    );
    card.addEventListener("click", () => openConversation(ticket.conversation_id));
    return card;
  }

  function renderQueue() {
    const list = $("queue-list");
    const cards = [];
    if (state.tab === "waiting") {
      for (const item of state.queue.waiting) cards.push(queueCard(item, "waiting"));
      if (!cards.length) cards.push(h("p", { class: "list-empty" }, "目前没有排队的客户 🎉"));
    } else if (state.tab === "mine") {
      const mine = state.queue.assigned.filter((item) => item.mine);
      const others = state.queue.assigned.filter((item) => !item.mine);
      for (const item of mine) cards.push(queueCard(item, "mine"));
      if (!mine.length) cards.push(h("p", { class: "list-empty" }, "您还没有接待中的客户。"));
      if (others.length) {
        cards.push(h("p", { class: "list-section" }, "同事接待中（" + others.length + "）"));
        for (const item of others) cards.push(queueCard(item, "other"));
      }
    } else {
      for (const ticket of state.tickets) cards.push(ticketCard(ticket));
      if (!cards.length) cards.push(h("p", { class: "list-empty" }, "没有待处理的留言。"));
    }
    list.replaceChildren(...cards);
  }

  async function selectTab(tab) {
    state.tab = tab;
    for (const button of document.querySelectorAll(".tab")) button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    if (tab === "tickets") await attempt(refreshTickets);
    renderQueue();
  }

  async function claimConversation(conversationId, button) {
    const data = await attempt(() => api("POST", "/api/agent/conversations/" + encodeURIComponent(conversationId) + "/claim"), button);
    if (!data) {
      refreshQueue();
      return;
    }
    toast("已接入会话，客户会看到您的名字。", "ok");
    await selectTab("mine");
    await openConversation(conversationId);
    refreshQueue();
    $("reply-input").focus();
  }

  /* ------------------------------------------------------------------ conversation */

  function closeConversation() {
    state.openId = null;
    state.conv = null;
    $("conversation").hidden = true;
    $("context-pane").hidden = true;
    $("empty-state").hidden = false;
  }

  async function openConversation(conversationId) {
    const switching = state.openId !== conversationId;
    let data;
    try {
      data = await api("GET", "/api/agent/conversations/" + encodeURIComponent(conversationId));
    } catch (error) {
      if (error.status !== 401) toast(error.message, "error");
      if (switching) return;
      closeConversation();
      renderQueue();
      return;
    }
    if (switching) {
      state.openId = conversationId;
      state.renderedMessages = new Set();
      state.renderedNotes = new Set();
      state.lastDay = "";
      $("transcript").replaceChildren();
      $("note-list").replaceChildren();
      $("reply-input").value = "";
      updateCount();
      $("identity-check").checked = false;
      closeCanned();
    }
    state.conv = data;
    state.unread.delete(conversationId);
    $("empty-state").hidden = true;
    $("conversation").hidden = false;
    $("context-pane").hidden = false;
    renderHeader();
    const atBottom = nearBottom();
    for (const message of data.messages || []) appendMessage(message, false);
    if (switching || atBottom) scrollTranscript();
    for (const note of data.notes || []) appendNote(note);
    renderContext();
    renderQueue();
    renderStats();
  }

  function renderHeader() {
    const conv = state.conv;
    const handoff = conv.handoff || {};
    const customer = conv.customer;
    $("conv-customer").textContent = customer ? str(customer.name) : "访客";
    const verified = $("conv-verified");
    verified.textContent = customer ? "已验证身份" : "未登录访客";
    verified.className = "chip " + (customer ? "chip-verified" : "chip-visitor");
    const pill = $("conv-state");
    const label = conv.mine ? "由您接待" : handoff.status === "assigned" && handoff.agent ? str(handoff.agent.name) + " 接待中" : STATE_LABELS[handoff.status] || "智能客服";
    pill.textContent = label;
    pill.className = "state-pill state-" + (conv.state === "queued" || conv.state === "assigned" ? conv.state : "bot");

    const meta = [
      h("span", { class: "chip chip-channel" }, str(conv.channel_label)),
      handoff.priority !== undefined ? h("span", { class: "prio prio-tag-" + handoff.priority }, PRIORITY_LABELS[handoff.priority] || "普通") : null,
      handoff.reason_label ? h("span", {}, str(handoff.reason_label)) : null,
    ];
    if (handoff.status === "queued" && handoff.enqueued_at) {
      const since = parseTime(handoff.enqueued_at);
      if (since) meta.push(h("span", { class: "wait", dataset: { since: String(since.getTime()), prefix: "已等待 " } }, ""));
    } else if (handoff.status === "assigned" && handoff.assigned_at) {
      const since = parseTime(handoff.assigned_at);
      if (since) meta.push(h("span", { class: "wait", dataset: { since: String(since.getTime()), prefix: "已接待 " } }, ""));
    } else if (handoff.rating) {
      meta.push(h("span", {}, "客户评分：" + "★".repeat(handoff.rating) + "☆".repeat(5 - handoff.rating)));
    }
    $("conv-meta").replaceChildren(...meta.filter(Boolean));
    tickWaits();

    const waiting = handoff.status === "queued";
    $("claim-btn").hidden = !waiting;
    $("transfer-box").hidden = !conv.mine;
    $("resolve-btn").hidden = !conv.mine;
    $("composer").hidden = !conv.mine;
    const locked = $("composer-locked");
    locked.hidden = conv.mine;
    if (!conv.mine) {
      locked.textContent = waiting
        ? "客户正在排队。点击右上角“接入会话”后即可回复，客户会收到您已接入的提示。"
        : handoff.status === "assigned"
          ? "该会话由同事接待中，您只能查看。"
          : "该会话已结束，智能客服已恢复服务。";
    }
    $("note-form").hidden = !conv.mine;
    renderTransferOptions();
  }

  function renderTransferOptions() {
    const select = $("transfer-select");
    if (!select) return;
    const previous = select.value;
    const options = [h("option", { value: "" }, "转接给…")];
    for (const agent of state.queue.agents) {
      if (agent.me) continue;
      const full = agent.serving >= agent.capacity;
      const label = str(agent.name) + "（" + (agent.online ? (full ? "已满" : agent.serving + "/" + agent.capacity) : "离线") + "）";
      options.push(h("option", { value: agent.username, disabled: !agent.online || full }, label));
    }
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === previous && !o.disabled)) select.value = previous;
    $("transfer-btn").disabled = select.options.length <= 1;
  }

  function nearBottom() {
    const t = $("transcript");
    return t.scrollHeight - t.scrollTop - t.clientHeight < 80;
  }

  function scrollTranscript() {
    const t = $("transcript");
    t.scrollTop = t.scrollHeight;
  }

  function appendMessage(message, live) {
    if (!message || typeof message.id !== "number" || state.renderedMessages.has(message.id)) return;
    state.renderedMessages.add(message.id);
    const transcript = $("transcript");
    const when = parseTime(message.created_at);
    if (when) {
      const day = when.toDateString();
      if (day !== state.lastDay) {
        state.lastDay = day;
        transcript.append(h("div", { class: "day-sep" }, dayLabel(when)));
      }
    }
    const sender = ["customer", "bot", "agent", "system"].includes(message.sender) ? message.sender : "system";
    const text = str(message.text);
    const custom = message.custom && typeof message.custom === "object" ? message.custom : null;
    let row;
    if (sender === "system") {
      row = h("div", { class: "msg system", dataset: { id: String(message.id) } },
        h("div", { class: "system-text", title: when ? when.toLocaleString("zh-CN", { hour12: false }) : null }, text));
    } else {
      const name = sender === "agent" ? "客服 " + (str(custom && custom.agent_name) || "") : SENDER_LABELS[sender];
      const avatar = sender === "customer" ? lastChar(state.conv && state.conv.customer ? state.conv.customer.name : "客")
        : sender === "bot" ? "智" : lastChar(custom && custom.agent_name ? custom.agent_name : "服");
      const body = h("div", { class: "msg-body" },
        h("div", { class: "msg-meta" }, name.trim() + (when ? " · " + hhmm(when) : "")),
        text ? h("div", { class: "bubble" }, text) : null);
      if (Array.isArray(message.buttons) && message.buttons.length) {
        body.append(h("div", { class: "msg-buttons", title: "客户看到的选项" }, message.buttons.map((b) => h("span", {}, str(b && b.title)))));
      }
      if (custom && custom.type === "pin_request") body.append(h("div", { class: "msg-tag" }, "［请客户在安全键盘输入" + (custom.kind === "otp" ? "短信验证码" : "支付密码") + "，客服不可见］"));
      if (custom && custom.type === "handoff") body.append(h("div", { class: "msg-tag" }, "［机器人发起转人工］"));
      row = h("div", { class: "msg " + sender + (live ? " fresh" : ""), dataset: { id: String(message.id) } },
        h("span", { class: "avatar " + sender, "aria-hidden": "true" }, avatar), body);
    }
    transcript.append(row);
  }

  function appendNote(note) {
    if (!note || typeof note.id !== "number" || state.renderedNotes.has(note.id)) return;
    state.renderedNotes.add(note.id);
    $("note-list").append(h("li", {},
      h("div", { class: "note-meta" }, str(note.author) + " · " + shortWhen(note.created_at)),
      h("div", { class: "note-text" }, str(note.text))));
  }

  function renderContext() {
    const customer = state.conv.customer;
    const info = $("customer-info");
    $("tx-card").hidden = !customer;
    $("drafts-card").hidden = !customer;
    $("unlock-card").hidden = true;
    if (!customer) {
      info.replaceChildren(
        h("div", { class: "customer-head" }, h("span", { class: "avatar" }, "访"), h("div", {}, h("div", { class: "customer-name" }, "访客"), h("div", { class: "muted small" }, "未登录，身份未验证"))),
        h("p", { class: "visitor-note" }, "无法查看账户信息。如需办理账户业务，请引导客户在工行App内登录后进入“在线客服”，或在 Telegram / 微信中绑定账户。"),
      );
      return;
    }
    const wallet = customer.wallet || {};
    const status = h("span", { class: "wallet-status wallet-" + str(wallet.status) }, WALLET_LABELS[wallet.status] || str(wallet.status));
    info.replaceChildren(
      h("div", { class: "customer-head" },
        h("span", { class: "avatar" }, lastChar(customer.name)),
        h("div", {}, h("div", { class: "customer-name" }, str(customer.name)), h("div", { class: "muted small" }, "已验证身份 · 信息已脱敏"))),
      h("dl", { class: "kv" },
        h("dt", {}, "手机号"), h("dd", {}, str(customer.phone)),
        h("dt", {}, "钱包号"), h("dd", {}, str(customer.wallet_no)),
        h("dt", {}, "钱包状态"), h("dd", {}, status),
        h("dt", {}, "余额"), h("dd", { class: "balance" }, str(wallet.balance)),
        h("dt", {}, "绑定卡"), h("dd", {}, (customer.cards || []).map(str).join("、") || "无")),
    );

    if (wallet.status === "locked" || wallet.status === "frozen") {
      const reason = LOCK_REASONS[wallet.lock_reason] || str(wallet.lock_reason) || "未知原因";
      const until = wallet.locked_until ? "，预计 " + shortWhen(wallet.locked_until) + " 自动解锁" : "";
      $("unlock-reason").textContent = "钱包" + (WALLET_LABELS[wallet.status] || "") + "：" + reason + until + "。核实身份后可为客户解锁。";
      $("unlock-card").hidden = false;
      updateUnlockButton();
    }

    const txs = Array.isArray(customer.transactions) ? customer.transactions : [];
    $("tx-list").replaceChildren(...(txs.length ? txs.map((tx) => h("li", {},
      h("div", { class: "tx-what" }, h("div", { class: "tx-name" }, str(tx.counterparty) || str(tx.memo) || "交易"), h("div", { class: "tx-when" }, shortWhen(tx.at) + (tx.memo && tx.counterparty ? " · " + str(tx.memo) : ""))),
      h("div", { class: "tx-amount" + (tx.incoming ? " in" : "") }, (tx.incoming ? "+" : "") + str(tx.amount)))) : [h("li", { class: "list-none" }, "最近没有交易")]));

    const drafts = Array.isArray(customer.drafts) ? customer.drafts : [];
    $("draft-list").replaceChildren(...(drafts.length ? drafts.map((d) => h("li", {},
      h("div", { class: "tx-what" }, h("div", { class: "tx-name" }, "转给 " + str(d.recipient)), h("div", { class: "tx-when" }, (d.pin_verified ? "已验密" : "待验密") + " · " + shortWhen(d.expires_at) + " 过期")),
      h("div", { class: "tx-amount" }, str(d.amount)))) : [h("li", { class: "list-none" }, "无")]));
  }

  function updateUnlockButton() {
    $("unlock-btn").disabled = !(state.conv && state.conv.mine && $("identity-check").checked);
  }

  /* ------------------------------------------------------------------ agent actions */

  function updateCount() {
    $("reply-count").textContent = $("reply-input").value.length + " / " + REPLY_MAX;
  }

  async function sendReply() {
    const input = $("reply-input");
    const text = input.value.trim();
    if (!text || !state.openId) return;
    const conversationId = state.openId;
    const data = await attempt(() => api("POST", "/api/agent/conversations/" + encodeURIComponent(conversationId) + "/messages", { text }), $("send-btn"));
    if (!data || !data.message) return;
    if (state.openId === conversationId) {
      input.value = "";
      updateCount();
      appendMessage(data.message, true);
      scrollTranscript();
      input.focus();
    }
  }

  async function addNote() {
    const input = $("note-input");
    const text = input.value.trim();
    if (!text || !state.openId) return;
    const data = await attempt(() => api("POST", "/api/agent/conversations/" + encodeURIComponent(state.openId) + "/notes", { text }), $("note-btn"));
    if (data && data.note) {
      input.value = "";
      appendNote(data.note);
    }
  }

  async function transfer() {
    const select = $("transfer-select");
    const to = select.value;
    if (!to || !state.openId) {
      toast("请先选择要转接的客服。", "error");
      return;
    }
    const name = select.options[select.selectedIndex].textContent.replace(/（.*$/, "");
    if (!(await confirmDialog("转接会话", "确定把这位客户转接给 " + name + " 吗？转接后您将无法再回复。", "转接"))) return;
    const data = await attempt(() => api("POST", "/api/agent/conversations/" + encodeURIComponent(state.openId) + "/transfer", { to }), $("transfer-btn"));
    if (data) {
      toast("已转接给 " + name + "。", "ok");
      await openConversation(state.openId);
      refreshQueue();
    }
  }

  async function resolve() {
    if (!state.openId) return;
    if (!(await confirmDialog("结束会话", "结束后智能客服会恢复服务，并请客户为本次服务打分。", "结束会话"))) return;
    const conversationId = state.openId;
    const data = await attempt(() => api("POST", "/api/agent/conversations/" + encodeURIComponent(conversationId) + "/resolve"), $("resolve-btn"));
    if (data) {
      toast("会话已结束，已邀请客户评价。", "ok");
      await openConversation(conversationId);
      refreshQueue();
    }
  }

  async function unlockWallet() {
    if (!state.openId || !$("identity-check").checked) return;
    if (!(await confirmDialog("解锁钱包", "确认已核实客户身份，并为其解除钱包锁定？此操作会记入审计日志。", "确认解锁"))) return;
    const data = await attempt(() => api("POST", "/api/agent/conversations/" + encodeURIComponent(state.openId) + "/unlock-wallet", { identity_verified: true }), $("unlock-btn"));
    if (data) {
      toast("钱包已解锁，客户已收到通知。", "ok");
      $("identity-check").checked = false;
      await openConversation(state.openId);
    }
  }

  /* ------------------------------------------------------------------ canned answers */

  async function toggleCanned() {
    const panel = $("canned-panel");
    if (!panel.hidden) {
      closeCanned();
      return;
    }
    if (!state.canned) {
      const data = await attempt(() => api("GET", "/api/agent/canned"));
      if (!data) return;
      state.canned = Array.isArray(data.answers) ? data.answers : [];
    }
    panel.hidden = false;
    $("canned-btn").setAttribute("aria-expanded", "true");
    $("canned-search").value = "";
    renderCanned();
    $("canned-search").focus();
  }

  function closeCanned() {
    $("canned-panel").hidden = true;
    $("canned-btn").setAttribute("aria-expanded", "false");
  }

  function renderCanned() {
    const query = $("canned-search").value.trim().toLowerCase();
    const items = (state.canned || []).filter((a) => !query || str(a.title).toLowerCase().includes(query) || str(a.text).toLowerCase().includes(query));
    const nodes = items.slice(0, 60).map((answer) => {
      const item = h("button", { type: "button", class: "canned-item", role: "option" },
        h("div", { class: "canned-title" }, str(answer.title), h("span", { class: "canned-intent" }, str(answer.intent))),
        h("div", { class: "canned-text" }, str(answer.text)));
      item.addEventListener("click", () => useCanned(answer));
      return item;
    });
    $("canned-list").replaceChildren(...(nodes.length ? nodes : [h("p", { class: "list-empty" }, "没有匹配的答案")]));
  }

  function useCanned(answer) {
    const input = $("reply-input");
    const current = input.value.trim();
    input.value = (current ? current + "\n" : "") + str(answer.text);
    input.value = input.value.slice(0, REPLY_MAX);
    updateCount();
    closeCanned();
    input.focus();
  }

  /* ------------------------------------------------------------------ live events */

  function setConn(up) {
    $("conn").dataset.state = up ? "up" : "down";
    $("conn-text").textContent = up ? "实时" : "重连中";
  }

  function startLive() {
    stopLive();
    connectEvents();
    state.pollTimer = setInterval(refreshQueue, QUEUE_POLL_MS);
  }

  function stopLive() {
    if (state.events) state.events.close();
    state.events = null;
    clearTimeout(state.reconnectTimer);
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  function connectEvents() {
    if (typeof EventSource === "undefined") return;
    const source = new EventSource("/api/agent/events");
    state.events = source;
    source.addEventListener("hello", () => {
      if (state.events !== source) return;
      state.backoffMs = 1000;
      setConn(true);
    });
    source.addEventListener("queue", () => {
      if (state.events !== source) return;
      scheduleQueueRefresh();
      if (state.openId) scheduleConversationRefresh();
    });
    source.addEventListener("message", (ev) => {
      if (state.events !== source) return;
      let data;
      try { data = JSON.parse(ev.data); } catch (_) { return; }
      if (!data || typeof data.conversation_id !== "string") return;
      if (data.conversation_id === state.openId) {
        const atBottom = nearBottom();
        appendMessage(data.message, true);
        if (atBottom || (data.message && data.message.sender !== "customer")) scrollTranscript();
      } else if (data.message && data.message.sender === "customer") {
        const mine = state.queue.assigned.some((item) => item.mine && item.conversation_id === data.conversation_id);
        if (mine) state.unread.set(data.conversation_id, (state.unread.get(data.conversation_id) || 0) + 1);
        scheduleQueueRefresh();
      }
      renderStats();
    });
    source.addEventListener("note", (ev) => {
      if (state.events !== source) return;
      try {
        const data = JSON.parse(ev.data);
        if (data && data.conversation_id === state.openId) appendNote(data.note);
      } catch (_) { /* ignore */ }
    });
    source.addEventListener("signed_out", () => signedOut());
    source.addEventListener("error", () => {
      if (state.events !== source) return;
      source.close();
      state.events = null;
      setConn(false);
      const delay = state.backoffMs + Math.floor(Math.random() * 400);
      state.backoffMs = Math.min(state.backoffMs * 2, 30000);
      state.reconnectTimer = setTimeout(async () => {
        try {
          await api("GET", "/api/agent/me");
        } catch (_) {
          if (!state.me) return;
        }
        if (!state.me) return;
        refreshQueue();
        if (state.openId) openConversation(state.openId);
        connectEvents();
      }, delay);
    });
  }

  let conversationTimer = null;
  function scheduleConversationRefresh() {
    clearTimeout(conversationTimer);
    conversationTimer = setTimeout(() => { if (state.openId) openConversation(state.openId); }, 300);
  }

  /* ------------------------------------------------------------------ wiring */

  function wire() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", logout);
    $("status-online").addEventListener("click", () => setStatus("online"));
    $("status-offline").addEventListener("click", () => setStatus("offline"));
    for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
    $("claim-btn").addEventListener("click", () => state.openId && claimConversation(state.openId, $("claim-btn")));
    $("transfer-btn").addEventListener("click", transfer);
    $("resolve-btn").addEventListener("click", resolve);
    $("send-btn").addEventListener("click", sendReply);
    const input = $("reply-input");
    input.addEventListener("input", updateCount);
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        sendReply();
      }
    });
    $("note-btn").addEventListener("click", addNote);
    $("identity-check").addEventListener("change", updateUnlockButton);
    $("unlock-btn").addEventListener("click", unlockWallet);
    $("canned-btn").addEventListener("click", toggleCanned);
    $("canned-close").addEventListener("click", closeCanned);
    $("canned-search").addEventListener("input", renderCanned);
    $("canned-search").addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeCanned(); });
    setInterval(tickWaits, 1000);
  }

  async function start() {
    wire();
    try {
      const data = await api("GET", "/api/agent/me");
      enterConsole(data.agent, data.csrf_token);
    } catch (_) {
      showLogin("");
    }
  }

  start();
})();

/* walletbot web chat. Plain ES2020, no build step.
 *
 * Rules kept throughout this file:
 *  - server text is only ever put on the page with textContent (never innerHTML);
 *  - the PIN / OTP the customer types is never shown, stored, or written to the console;
 *  - the customer's typed text is never lost: a failed send puts it back in the box.
 */
"use strict";

(() => {
  const TOKEN_KEY = "walletbot.token";
  const NET_ERROR = "网络开小差了，请稍后重试";
  const GENERIC_ERROR = "抱歉，暂时无法处理您的请求，请稍后再试";
  const REQUEST_TIMEOUT_MS = 30000;
  const TIME_GAP_MS = 5 * 60 * 1000;
  const SENDERS = new Set(["customer", "bot", "agent", "system"]);

  const $ = (sel) => document.querySelector(sel);
  const app = $("#app");
  const scroller = $("#scroller");
  const list = $("#messages");
  const typing = $("#typing");
  const input = $("#input");
  const sendBtn = $("#send");
  const composer = $("#composer");
  const statusEl = $("#status");
  const queueNotice = $("#queue-notice");
  const queueText = $("#queue-text");
  const QUEUE_NOTICE_DEFAULT = queueText.textContent;
  const suggestions = $("#suggestions");
  const newPill = $("#new-pill");

  const sheet = $("#pin-sheet");
  const sheetTitle = $("#pin-title");
  const sheetPrompt = $("#pin-prompt");
  const sheetError = $("#pin-error");
  const sheetBusy = $("#pin-busy");
  const sheetSafeText = $("#pin-safe-text");
  const pinMode = $("#pin-mode");
  const pinDots = $("#pin-dots");
  const keypad = $("#pin-keypad");
  const otpMode = $("#otp-mode");
  const otpInput = $("#otp-input");
  const otpBoxes = Array.from(document.querySelectorAll(".otp-boxes span"));
  const otpResend = $("#otp-resend");

  /* ------------------------------------------------------------------ identity */

  let memoryToken = null;

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || memoryToken;
    } catch (_) {
      return memoryToken;
    }
  }

  function setToken(value) {
    memoryToken = value;
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch (_) { /* storage disabled: keep it in memory */ }
  }

  function dropToken() {
    memoryToken = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) { /* nothing to drop */ }
  }

  function takeTokenFromFragment() {
    const hash = location.hash.replace(/^#/, "");
    if (!hash) return;
    const params = new URLSearchParams(hash);
    if (!params.has("token")) return;
    const value = params.get("token");
    if (value) setToken(value);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }

  /* ------------------------------------------------------------------ HTTP */

  class HttpError extends Error {
    constructor(status, detail) {
      super("http " + status);
      this.status = status;
      this.detail = detail;
    }
  }

  class NetworkError extends Error {}

  function isRetryable(err) {
    return !(err instanceof HttpError) || err.status >= 500 || err.status === 408;
  }

  async function api(method, path, body, { resendAsVisitor = true } = {}) {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const token = getToken();
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (token) headers.Authorization = "Bearer " + token;

      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
      let res;
      try {
        res = await fetch(path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: "same-origin",
          cache: "no-store",
          signal: controller.signal,
        });
      } catch (_) {
        throw new NetworkError();
      } finally {
        clearTimeout(timer);
      }

      if (res.status === 401 && token) {
        dropToken(); // carry on as an anonymous visitor
        if (resendAsVisitor) continue;
      }

      let data = null;
      try {
        data = await res.json();
      } catch (_) { /* not JSON */ }

      if (!res.ok) {
        const detail = data && typeof data.detail === "string" && data.detail.trim() ? data.detail : null;
        throw new HttpError(res.status, detail);
      }
      return data && typeof data === "object" ? data : {};
    }
    throw new HttpError(401, null);
  }

  /* ------------------------------------------------------------------ small DOM helpers */

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgIcon(pathD) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathD);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  const LOCK_ICON = "M12 1.5a5 5 0 0 0-5 5V9H6a2 2 0 0 0-2 2v9a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-9a2 2 0 0 0-2-2h-1V6.5a5 5 0 0 0-5-5zm-3 5a3 3 0 0 1 6 0V9H9V6.5zm3 7a1.75 1.75 0 0 1 1 3.18V19h-2v-2.32a1.75 1.75 0 0 1 1-3.18z";

  function parseTime(value) {
    if (typeof value !== "string") return NaN;
    // Python isoformat may carry microseconds; keep milliseconds for every browser.
    return Date.parse(value.replace(/(\.\d{3})\d+/, "$1"));
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function formatTime(ms) {
    const d = new Date(ms);
    const now = new Date();
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
    if (ms >= startOfToday) return hm;
    if (ms >= startOfToday - 86400000) return "昨天 " + hm;
    if (d.getFullYear() === now.getFullYear()) return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + hm;
    return d.getFullYear() + "年" + (d.getMonth() + 1) + "月" + d.getDate() + "日 " + hm;
  }

  /* ------------------------------------------------------------------ conversation state */

  const rendered = new Map(); // message id -> { el, msg }
  const pendings = []; // optimistic customer bubbles, oldest first
  const pinSeen = new Set(); // pin_request message ids already offered to the customer
  let lastId = 0;
  let lastCustomerId = 0; // the newest customer message on the page: quick replies before it are spent
  let inflight = 0;
  let historyLoaded = false;

  let chatState = "bot";
  let queueNoticeText = "";
  let agentName = "";

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 96;
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    newPill.hidden = true;
  }

  function afterAdd(wasNearBottom, force) {
    if (force || wasNearBottom) {
      requestAnimationFrame(scrollToBottom);
    } else {
      newPill.hidden = false;
    }
  }

  function updateSuggestions() {
    suggestions.hidden = rendered.size > 0 || pendings.length > 0;
  }

  function updateTyping() {
    const wasNearBottom = nearBottom();
    typing.hidden = inflight <= 0;
    if (!typing.hidden && wasNearBottom) requestAnimationFrame(scrollToBottom);
  }

  function updateSendButton() {
    sendBtn.disabled = input.value.trim() === "";
  }

  function isPinRequest(msg) {
    const c = msg && msg.custom;
    return !!c && typeof c === "object" && c.type === "pin_request" && (c.kind === "pin" || c.kind === "otp");
  }

  function messageElements() {
    return Array.from(list.querySelectorAll(":scope > .msg[data-id]"));
  }

  function insertSorted(node, id) {
    for (const other of messageElements()) {
      if (Number(other.dataset.id) > id) {
        list.insertBefore(node, other);
        return;
      }
    }
    list.appendChild(node);
  }

  function refreshTimeLabel(node) {
    if (!node) return;
    const label = node.querySelector(":scope > .msg-time");
    if (!label) return;
    const ts = Number(node.dataset.ts);
    let prev = node.previousElementSibling;
    while (prev && !prev.dataset.id) prev = prev.previousElementSibling;
    const prevTs = prev ? Number(prev.dataset.ts) : NaN;
    const show = Number.isFinite(ts) && (!Number.isFinite(prevTs) || ts - prevTs > TIME_GAP_MS);
    label.hidden = !show;
    if (show) label.firstChild.textContent = formatTime(ts);
  }

  function nextMessageElement(node) {
    let next = node.nextElementSibling;
    while (next && !next.dataset.id) next = next.nextElementSibling;
    return next;
  }

  function buildAvatar(sender) {
    if (sender === "agent") return el("div", "avatar avatar-agent", "客服");
    const avatar = el("div", "avatar avatar-bot");
    avatar.setAttribute("aria-hidden", "true");
    return avatar;
  }

  function buildMessage(msg, live) {
    const sender = SENDERS.has(msg.sender) ? msg.sender : "bot";
    const row = el("div", "msg " + sender);
    row.dataset.id = String(msg.id);
    const ts = parseTime(msg.created_at);
    if (Number.isFinite(ts)) {
      row.dataset.ts = String(ts);
      row.title = new Date(ts).toLocaleString("zh-CN", { hour12: false });
    }

    const time = el("div", "msg-time");
    time.appendChild(el("span"));
    time.hidden = true;
    row.appendChild(time);

    if (sender === "bot" || sender === "agent") row.appendChild(buildAvatar(sender));

    const body = el("div", "msg-body");
    if (sender === "agent") {
      const name = (typeof msg.agent_name === "string" && msg.agent_name) || agentName;
      body.appendChild(el("div", "msg-name", name ? "人工客服 " + name : "人工客服"));
    }

    let text = typeof msg.text === "string" ? msg.text : "";
    const pinRequest = isPinRequest(msg);
    if (!text && pinRequest && typeof msg.custom.prompt === "string") text = msg.custom.prompt;
    if (text) body.appendChild(el("div", "bubble", text));

    if (Array.isArray(msg.buttons) && msg.buttons.length && sender !== "customer") {
      const group = el("div", "quick-replies");
      group.dataset.messageId = String(msg.id);
      for (const b of msg.buttons) {
        if (!b || typeof b.title !== "string" || b.id === undefined || b.id === null) continue;
        const button = el("button", "", b.title);
        button.type = "button";
        button.dataset.id = String(b.id);
        button.dataset.messageId = String(msg.id);
        button.addEventListener("click", () => onQuickReply(group, button, msg.id, String(b.id), b.title));
        group.appendChild(button);
      }
      if (group.childElementCount) body.appendChild(group);
      if (msg.id < lastCustomerId) retireGroup(group); // answered already (history rendered out of order)
      if (isQueueMessage(msg)) {
        group.dataset.queue = "1";
        // A queue message just sent is shown at once (its state event follows); an old one only while queued.
        group.hidden = !live && chatState !== "queued";
      }
    }

    if (pinRequest) {
      const kind = msg.custom.kind;
      const card = el("button", "pin-card");
      card.type = "button";
      card.dataset.pinFor = String(msg.id);
      card.appendChild(svgIcon(LOCK_ICON));
      card.appendChild(el("span", "", kind === "otp" ? "输入短信验证码" : "输入支付密码"));
      card.addEventListener("click", () => openSheet(msg));
      body.appendChild(card);
    }

    row.appendChild(body);
    return row;
  }

  /** Put one server message on the page (once per id, sorted by id). */
  function renderMessage(msg, { live = true, own = false } = {}) {
    if (!msg || typeof msg !== "object" || !Number.isInteger(msg.id)) return false;
    if (rendered.has(msg.id)) return false;

    const wasNearBottom = nearBottom();
    const node = buildMessage(msg, live && msg.id > lastId);
    insertSorted(node, msg.id);
    rendered.set(msg.id, { el: node, msg });
    const newest = msg.id > lastId;
    if (newest) lastId = msg.id;

    refreshTimeLabel(node);
    refreshTimeLabel(nextMessageElement(node));

    if (msg.sender === "customer") {
      if (!own) {
        const stale = pendings.shift(); // most likely the optimistic bubble of this very message
        if (stale) stale.remove();
      }
      retirePinCards(msg.id);
      retireQuickReplies(msg.id);
      lastCustomerId = Math.max(lastCustomerId, msg.id);
      if (!sheet.hidden && !pin.busy && pin.messageId !== null && msg.id > pin.messageId) closeSheet();
    }

    if (isPinRequest(msg) && live && newest) offerPin(msg);

    updateSuggestions();
    afterAdd(wasNearBottom, own || msg.sender === "customer");
    return true;
  }

  function retirePinCards(beforeId) {
    for (const card of list.querySelectorAll(".pin-card:not(:disabled)")) {
      if (Number(card.dataset.pinFor) < beforeId) card.disabled = true;
    }
  }

  /** Quick replies belong to the turn they were offered in: once the customer has said or pressed
   * anything after them (also after a reload), they are greyed out and can no longer be pressed. */
  function retireGroup(group) {
    group.classList.add("used");
    for (const b of group.querySelectorAll("button")) b.disabled = true;
  }

  function retireQuickReplies(beforeId) {
    for (const group of list.querySelectorAll(".quick-replies:not(.used)")) {
      if (Number(group.dataset.messageId) < beforeId) retireGroup(group);
    }
  }

  function addPending(text) {
    retireQuickReplies(Infinity); // the customer moved on: what was offered before no longer applies
    const wasNearBottom = nearBottom();
    const row = el("div", "msg customer pending");
    const body = el("div", "msg-body");
    body.appendChild(el("div", "bubble", text));
    row.appendChild(body);
    list.appendChild(row);
    pendings.push(row);
    updateSuggestions();
    afterAdd(wasNearBottom, true);
    return row;
  }

  function removePending(row) {
    const i = pendings.indexOf(row);
    if (i >= 0) pendings.splice(i, 1);
    row.remove();
    updateSuggestions();
  }

  /** A small centred notice that lives only on this page (not in the transcript). */
  function showNotice(text, { retry = null, kind = "" } = {}) {
    const wasNearBottom = nearBottom();
    const row = el("div", "msg system local" + (kind ? " " + kind : ""));
    row.setAttribute("role", "status");
    const body = el("div", "msg-body");
    const bubble = el("div", "bubble", text);
    if (retry) {
      const button = el("button", "notice-retry", "重试");
      button.type = "button";
      button.addEventListener("click", () => {
        row.remove();
        retry();
      });
      bubble.appendChild(button);
    }
    body.appendChild(bubble);
    row.appendChild(body);
    list.appendChild(row);
    afterAdd(wasNearBottom, true);
    return row;
  }

  /** `source` is "send" (a message that did not go out) or "conn" (history / live updates). */
  function showNetError(retry, source) {
    clearNetError(source);
    const row = showNotice(NET_ERROR, { retry, kind: "net-error" });
    row.dataset.source = source;
  }

  function clearNetError(source) {
    for (const node of list.querySelectorAll(".net-error")) {
      if (!source || node.dataset.source === source) node.remove();
    }
  }

  /* ------------------------------------------------------------------ header / queue */

  function applyState(data) {
    if (!data || typeof data !== "object") return;
    if (typeof data.state === "string") chatState = data.state;
    if (data.agent && typeof data.agent.name === "string" && data.agent.name) agentName = data.agent.name;
    // The banner's sentence comes from the server, made from the same place and wait as the transcript's.
    queueNoticeText = chatState === "queued" && typeof data.queue_notice === "string" ? data.queue_notice.trim() : "";
    renderState();
  }

  function isQueueMessage(msg) {
    const c = msg && msg.custom;
    return !!c && typeof c === "object" && c.type === "queue";
  }

  /** 取消排队 belongs to the wait: it is shown only while the conversation is queued (gone once an agent joins). */
  function syncQueueControls() {
    for (const group of list.querySelectorAll(".quick-replies[data-queue]")) group.hidden = chatState !== "queued";
  }

  function renderState() {
    app.dataset.state = chatState;
    if (chatState === "queued") {
      statusEl.textContent = "排队中";
    } else if (chatState === "assigned") {
      statusEl.textContent = agentName ? "人工客服 " + agentName + " 为您服务" : "人工客服为您服务";
    } else {
      statusEl.textContent = "智能客服";
    }
    syncQueueControls();

    const wasNearBottom = nearBottom();
    if (chatState !== "queued") {
      queueNotice.hidden = true;
      return;
    }
    queueText.textContent = queueNoticeText || QUEUE_NOTICE_DEFAULT;
    queueNotice.hidden = false;
    if (wasNearBottom) requestAnimationFrame(scrollToBottom);
  }

  /* ------------------------------------------------------------------ sending */

  async function postMessage(payload, display) {
    const pending = addPending(display);
    inflight += 1;
    updateTyping();
    try {
      const data = await api("POST", "/api/chat/messages", payload);
      removePending(pending);
      clearNetError("send");
      if (data.customer_message) renderMessage(data.customer_message, { own: true });
      for (const m of Array.isArray(data.messages) ? data.messages : []) renderMessage(m);
      return true;
    } catch (err) {
      removePending(pending);
      if (isRetryable(err)) {
        showNetError(() => {
          if (payload.text !== undefined && input.value === payload.text) clearInput();
          postMessage(payload, display);
        }, "send");
      } else {
        showNotice(err.detail || GENERIC_ERROR);
      }
      return false;
    } finally {
      inflight -= 1;
      updateTyping();
    }
  }

  function clearInput() {
    input.value = "";
    autosize();
    updateSendButton();
  }

  function restoreDraft(text) {
    if (input.value.trim() === "") {
      input.value = text;
      autosize();
      updateSendButton();
    }
  }

  async function sendText(text) {
    const ok = await postMessage({ text }, text);
    if (!ok) restoreDraft(text);
    return ok;
  }

  function submitComposer() {
    const text = input.value;
    if (text.trim() === "") return;
    clearInput();
    sendText(text);
    input.focus();
  }

  async function onQuickReply(group, button, messageId, buttonId, title) {
    if (group.classList.contains("used")) return;
    group.classList.add("used");
    button.classList.add("chosen");
    for (const b of group.querySelectorAll("button")) b.disabled = true;
    const ok = await postMessage({ button: { message_id: messageId, id: buttonId } }, title);
    if (!ok) {
      group.classList.remove("used");
      button.classList.remove("chosen");
      for (const b of group.querySelectorAll("button")) b.disabled = false;
    }
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 112) + "px";
  }

  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    submitComposer();
  });

  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    submitComposer();
  });

  input.addEventListener("input", () => {
    autosize();
    updateSendButton();
  });

  for (const chip of document.querySelectorAll("#suggestions .chip")) {
    chip.addEventListener("click", () => sendText(chip.dataset.text || chip.textContent));
  }

  newPill.addEventListener("click", scrollToBottom);
  scroller.addEventListener("scroll", () => {
    if (nearBottom()) newPill.hidden = true;
  }, { passive: true });

  /* ------------------------------------------------------------------ PIN / OTP sheet */

  const pin = { messageId: null, kind: null, digits: [], busy: false };

  function offerPin(msg) {
    if (pinSeen.has(msg.id)) return;
    pinSeen.add(msg.id);
    openSheet(msg);
  }

  function openSheet(msg) {
    const custom = msg.custom;
    pinSeen.add(msg.id);
    pin.messageId = msg.id;
    pin.kind = custom.kind;
    pin.busy = false;
    wipeDigits();

    const otp = pin.kind === "otp";
    sheet.dataset.mode = pin.kind;
    sheetTitle.textContent = otp ? "短信验证" : "安全验证";
    const fallback = otp ? "请输入短信验证码" : "请输入6位支付密码";
    const prompt = typeof custom.prompt === "string" && custom.prompt.trim() ? custom.prompt : fallback;
    // What this secret confirms, so the customer sees the amount and recipient they are paying.
    const confirms = typeof custom.summary === "string" && custom.summary.trim() ? custom.summary + "\n" : "";
    sheetPrompt.textContent = confirms + prompt;
    sheetSafeText.textContent = otp
      ? "验证码仅用于本次验证，请勿告诉他人"
      : "安全键盘 · 密码仅用于本次验证，不会显示在对话中";
    pinMode.hidden = otp;
    otpMode.hidden = !otp;
    sheetError.textContent = "";
    if (typeof custom.error === "string" && custom.error) showSheetError(custom.error);
    setBusy(false);

    const wasOpen = !sheet.hidden;
    sheet.hidden = false;
    document.body.classList.add("sheet-open");
    if (!wasOpen) input.blur();
    if (otp) {
      startResendCountdown(Number(custom.resend_after_s) || 60);
      setTimeout(() => otpInput.focus(), 60);
    } else if (document.activeElement === otpInput) {
      otpInput.blur();
    }
  }

  /* The SMS sheet: "重新获取验证码" becomes available when the resend interval has passed. */
  let resendTimer = null;

  function startResendCountdown(seconds) {
    clearInterval(resendTimer);
    let left = Math.max(0, Math.round(seconds));
    const tick = () => {
      otpResend.disabled = left > 0;
      otpResend.textContent = left > 0 ? "重新获取验证码（" + left + "秒）" : "重新获取验证码";
      if (left <= 0) clearInterval(resendTimer);
      left -= 1;
    };
    tick();
    resendTimer = setInterval(tick, 1000);
  }

  async function resendOtp() {
    if (pin.busy || pin.kind !== "otp") return;
    otpResend.disabled = true;
    try {
      const data = await api("POST", "/api/chat/otp/resend", undefined, { resendAsVisitor: false });
      const messages = Array.isArray(data.messages) ? data.messages : [];
      for (const m of messages) renderMessage(m);
      const next = messages.filter(isPinRequest).pop();
      if (next) openSheet(next);
    } catch (err) {
      showSheetError(err instanceof HttpError && err.detail ? err.detail : NET_ERROR);
      otpResend.disabled = false;
    }
  }

  otpResend.addEventListener("click", resendOtp);

  function closeSheet() {
    clearInterval(resendTimer);
    wipeDigits();
    pin.messageId = null;
    pin.kind = null;
    pin.busy = false;
    sheetError.textContent = "";
    setBusy(false);
    sheet.hidden = true;
    document.body.classList.remove("sheet-open");
  }

  function wipeDigits() {
    pin.digits.fill("");
    pin.digits.length = 0;
    otpInput.value = "";
    renderDigits();
  }

  function renderDigits() {
    const dots = pinDots.children;
    for (let i = 0; i < dots.length; i += 1) dots[i].classList.toggle("filled", i < pin.digits.length);
    pinDots.setAttribute("aria-label", "已输入 " + pin.digits.length + " 位");
    const value = otpInput.value;
    otpBoxes.forEach((box, i) => {
      box.textContent = value[i] || "";
      box.classList.toggle("active", i === Math.min(value.length, 5) && document.activeElement === otpInput);
    });
  }

  function setBusy(busy) {
    pin.busy = busy;
    sheetBusy.hidden = !busy;
    keypad.setAttribute("aria-disabled", busy ? "true" : "false");
    for (const key of keypad.querySelectorAll("button.key")) key.disabled = busy;
    otpInput.readOnly = busy;
  }

  function pressKey(key) {
    if (pin.busy || pin.kind !== "pin") return;
    if (key === "del") {
      pin.digits.pop();
    } else if (/^[0-9]$/.test(key) && pin.digits.length < 6) {
      if (pin.digits.length === 0) sheetError.textContent = "";
      pin.digits.push(key);
    }
    renderDigits();
    if (pin.digits.length === 6) {
      const value = pin.digits.join("");
      submitSecret({ pin: value });
    }
  }

  function showSheetError(text) {
    sheetError.textContent = text;
    pinDots.classList.remove("shake");
    void pinDots.offsetWidth; // restart the animation
    pinDots.classList.add("shake");
  }

  async function submitSecret(body) {
    const forId = pin.messageId;
    setBusy(true);
    inflight += 1;
    updateTyping();
    try {
      const data = await api("POST", "/api/chat/pin", body, { resendAsVisitor: false });
      const messages = Array.isArray(data.messages) ? data.messages : [];
      for (const m of messages) renderMessage(m);
      const next = messages.filter(isPinRequest).pop();
      if (next) {
        // Another step (e.g. the PIN was wrong, or an SMS code is needed next): stay open.
        if (pin.messageId !== next.id) openSheet(next);
        else {
          setBusy(false);
          wipeDigits();
        }
      } else if (pin.messageId === forId) {
        const card = list.querySelector('.pin-card[data-pin-for="' + forId + '"]');
        if (card) card.disabled = true;
        closeSheet();
      }
    } catch (err) {
      if (pin.messageId !== forId) return; // the sheet moved on meanwhile
      setBusy(false);
      wipeDigits();
      if (err instanceof HttpError && !isRetryable(err)) showSheetError(err.detail || "验证未通过，请重新输入");
      else showSheetError(NET_ERROR);
      if (pin.kind === "otp") otpInput.focus();
    } finally {
      body.pin = undefined;
      body.otp = undefined;
      inflight -= 1;
      updateTyping();
    }
  }

  keypad.addEventListener("click", (e) => {
    const key = e.target.closest("button.key");
    if (key && !key.disabled) pressKey(key.dataset.key);
  });

  $("#pin-cancel").addEventListener("click", cancelSheet);
  sheet.querySelector(".sheet-backdrop").addEventListener("click", () => {
    if (pin.kind === "otp") otpInput.focus();
  });

  function cancelSheet() {
    const forId = pin.messageId;
    closeSheet();
    const card = forId === null ? null : list.querySelector('.pin-card[data-pin-for="' + forId + '"]');
    if (card) card.disabled = true;
    sendText("取消");
  }

  document.addEventListener("keydown", (e) => {
    if (sheet.hidden) return;
    if (e.key === "Escape") {
      e.preventDefault();
      cancelSheet();
      return;
    }
    if (pin.kind !== "pin" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[0-9]$/.test(e.key)) {
      e.preventDefault();
      pressKey(e.key);
    } else if (e.key === "Backspace" || e.key === "Delete") {
      e.preventDefault();
      pressKey("del");
    }
  });

  otpInput.addEventListener("input", () => {
    const clean = otpInput.value.replace(/\D+/g, "").slice(0, 6);
    if (clean !== otpInput.value) otpInput.value = clean;
    if (clean.length) sheetError.textContent = "";
    renderDigits();
    if (clean.length === 6 && !pin.busy) submitSecret({ otp: clean });
  });
  otpInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      if (otpInput.value.length === 6 && !pin.busy) submitSecret({ otp: otpInput.value });
    }
  });
  otpInput.addEventListener("focus", renderDigits);
  otpInput.addEventListener("blur", renderDigits);

  /* ------------------------------------------------------------------ history + live events */

  let events = null;
  let backoffMs = 1000;
  let reconnectTimer = null;
  let resyncing = false;

  function renderBatch(messages, live) {
    const sorted = (Array.isArray(messages) ? messages : [])
      .filter((m) => m && Number.isInteger(m.id))
      .sort((a, b) => a.id - b.id);
    for (const m of sorted) renderMessage(m, { live });
  }

  /** After a history load: if the conversation stopped at a PIN request, offer it again. */
  function offerLatestPin() {
    const latest = rendered.get(lastId);
    if (latest && isPinRequest(latest.msg) && sheet.hidden) offerPin(latest.msg);
  }

  async function loadHistory() {
    try {
      const data = await api("GET", "/api/chat/messages?after=" + lastId);
      applyState(data);
      renderBatch(data.messages, false);
      if (!historyLoaded) offerLatestPin();
      historyLoaded = true;
      updateSuggestions();
      clearNetError("conn");
      requestAnimationFrame(scrollToBottom);
      connectEvents();
    } catch (_) {
      showNetError(loadHistory, "conn");
      updateSuggestions();
      scheduleReconnect();
    }
  }

  function connectEvents() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (events) events.close();
    if (typeof EventSource === "undefined") return;

    const params = new URLSearchParams({ after: String(lastId) });
    const token = getToken();
    if (token) params.set("token", token);
    const source = new EventSource("/api/chat/events?" + params.toString());
    events = source;

    source.addEventListener("open", () => {
      if (events !== source) return;
      backoffMs = 1000;
      app.dataset.conn = "up";
    });
    source.addEventListener("message", (ev) => {
      if (events !== source) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      renderMessage(msg, { live: true });
    });
    source.addEventListener("state", (ev) => {
      if (events !== source) return;
      try {
        applyState(JSON.parse(ev.data));
      } catch (_) { /* ignore a malformed event */ }
    });
    source.addEventListener("error", () => {
      if (events !== source) return;
      source.close();
      events = null;
      app.dataset.conn = "down";
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    const delay = backoffMs + Math.floor(Math.random() * 400);
    backoffMs = Math.min(backoffMs * 2, 30000);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      resync();
    }, delay);
  }

  /** Catch up with what was missed (this also notices a rejected token), then listen again. */
  async function resync() {
    if (resyncing) return;
    resyncing = true;
    try {
      const data = await api("GET", "/api/chat/messages?after=" + lastId);
      applyState(data);
      const first = !historyLoaded;
      renderBatch(data.messages, !first);
      syncQueueControls(); // missed queue messages are rendered as live: only the state decides
      if (first) {
        offerLatestPin();
        historyLoaded = true;
        updateSuggestions();
        requestAnimationFrame(scrollToBottom);
      }
      clearNetError("conn");
      connectEvents();
    } catch (_) {
      app.dataset.conn = "down";
      scheduleReconnect();
    } finally {
      resyncing = false;
    }
  }

  function reconnectNow() {
    if (events) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    backoffMs = 1000;
    resync();
  }

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });
  window.addEventListener("pagehide", () => {
    if (events) events.close();
  });

  /* ------------------------------------------------------------------ start */

  takeTokenFromFragment();
  window.addEventListener("hashchange", takeTokenFromFragment);
  renderState();
  updateSendButton();
  autosize();
  loadHistory();
})();

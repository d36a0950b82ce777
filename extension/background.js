// The service worker: one WebSocket to the Bredgio hub (seed protocol), commands run in
// order on the working tab, reconnection with backoff, and keepalives so Chrome never
// stops the worker while it is connected.

import { SERVER_URL } from "./config.js";
import { CommandFailure, runCommand } from "./commands.js";

const VERSION = chrome.runtime.getManifest().version;
const WS_PATH = "/api/social-agents/ws";
const HEARTBEAT_PATH = "/api/extension/heartbeat";
// Chrome stops an extension service worker after 30 s without events; a WebSocket
// message (Chrome >= 116) or an extension API call resets that timer.
const KEEPALIVE_MS = 20_000;
const BACKOFF_FIRST_MS = 250;
// Capped so a restarted server is rejoined within 5 s of coming back.
const BACKOFF_MAX_MS = 4_000;
const CONNECT_TIMEOUT_MS = 10_000;
// Every keepalive ping is answered: this much silence means the connection is dead.
const SILENCE_LIMIT_MS = 65_000;
const ALARM = "bredgio-wake";
// Close codes of the hub (api/hub/protocol.py).
const CLOSE_REVOKED = 1008;
const CLOSE_REPLACED = 4001;

const conn = {
  socket: null,
  token: null,
  serverUrl: null,
  attempt: 0,
  retryTimer: null,
  connectTimer: null,
  lastReceived: 0,
  opened: false,
  checkedToken: false,
};
let queue = Promise.resolve();

// -- status (shown by the popup) ---------------------------------------------------------

async function setStatus(state, message = "") {
  await chrome.storage.session.set({ status: { state, message, at: Date.now() } });
}

// -- settings ----------------------------------------------------------------------------

async function loadSettings() {
  const stored = await chrome.storage.local.get(["token", "serverUrl", "halted"]);
  return {
    token: stored.token || null,
    serverUrl: normalizeServerUrl(stored.serverUrl || SERVER_URL),
    halted: stored.halted || null,
  };
}

export function normalizeServerUrl(value) {
  return String(value || "").trim().replace(/\/+$/, "");
}

function socketUrl(serverUrl, token) {
  const url = new URL(serverUrl + WS_PATH);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", token);
  url.searchParams.set("version", VERSION);
  return url.href;
}

// -- connection --------------------------------------------------------------------------

/** Connect with the stored settings unless connected already or halted. */
async function boot() {
  const settings = await loadSettings();
  if (!settings.token) {
    await setStatus("idle", "No agent token saved");
    return;
  }
  if (settings.halted && settings.halted.token === settings.token) {
    await setStatus(settings.halted.state, settings.halted.message);
    return;
  }
  const same = conn.token === settings.token && conn.serverUrl === settings.serverUrl;
  if (same && (conn.socket || conn.retryTimer)) return;
  connect(settings.token, settings.serverUrl);
}

function clearTimers() {
  clearTimeout(conn.retryTimer);
  clearTimeout(conn.connectTimer);
  conn.retryTimer = conn.connectTimer = null;
}

function dropSocket() {
  const socket = conn.socket;
  conn.socket = null;
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "reconnecting");
}

function connect(token, serverUrl) {
  clearTimers();
  dropSocket();
  conn.token = token;
  conn.serverUrl = serverUrl;
  conn.opened = false;
  let socket;
  try {
    socket = new WebSocket(socketUrl(serverUrl, token));
  } catch (error) {
    setStatus("error", `Bad server URL: ${error.message}`);
    return;
  }
  conn.socket = socket;
  setStatus("connecting", conn.attempt ? `Reconnecting (attempt ${conn.attempt + 1})` : "");
  conn.connectTimer = setTimeout(() => {
    if (conn.socket === socket && socket.readyState === WebSocket.CONNECTING) socket.close();
  }, CONNECT_TIMEOUT_MS);

  socket.onopen = () => {
    if (conn.socket !== socket) return;
    clearTimeout(conn.connectTimer);
    conn.attempt = 0;
    conn.opened = true;
    conn.checkedToken = false;
    conn.lastReceived = Date.now();
    send(socket, { type: "hello", version: VERSION });
    setStatus("connected", serverUrl);
  };
  socket.onmessage = (event) => {
    if (conn.socket !== socket) return;
    conn.lastReceived = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === "ping") send(socket, { type: "pong" });
    else if (frame.type === "command") enqueue(socket, frame);
  };
  socket.onclose = (event) => {
    if (conn.socket !== socket) return;
    conn.socket = null;
    clearTimeout(conn.connectTimer);
    if (event.code === CLOSE_REVOKED) {
      // The hub's reason says whether the token was rotated or the agent deleted.
      const why = event.reason && !/^agent token revoked$/i.test(event.reason);
      halt("revoked", why ? `Token revoked (${event.reason})` : "Token revoked");
      return;
    }
    if (event.code === CLOSE_REPLACED) {
      // Another browser connected with this token; taking it back would make the two
      // take turns forever.
      halt("error", "Another browser connected with this agent token");
      return;
    }
    const wasOpen = conn.opened;
    conn.opened = false;
    if (!wasOpen && !conn.checkedToken) {
      // A refused token is a 401 before the upgrade, which a WebSocket reports as a
      // plain failure: ask the heartbeat endpoint once per failure streak.
      conn.checkedToken = true;
      checkToken(token, serverUrl).then((verdict) => {
        if (conn.token !== token || conn.socket) return;
        if (verdict === "invalid") halt("error", "Invalid token");
        else scheduleReconnect(event);
      });
      return;
    }
    scheduleReconnect(event);
  };
}

function scheduleReconnect(event) {
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** conn.attempt);
  const jittered = Math.round(delay * (0.75 + Math.random() * 0.25));
  conn.attempt += 1;
  const why = event && event.code && event.code !== 1006 ? ` (closed ${event.code})` : "";
  setStatus("connecting", `Disconnected${why}; retrying in ${(jittered / 1000).toFixed(1)} s`);
  conn.retryTimer = setTimeout(() => {
    conn.retryTimer = null;
    if (conn.token) connect(conn.token, conn.serverUrl);
  }, jittered);
}

async function checkToken(token, serverUrl) {
  try {
    const response = await fetch(serverUrl + HEARTBEAT_PATH, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, version: VERSION }),
    });
    return response.status === 401 ? "invalid" : "ok";
  } catch {
    return "unreachable";
  }
}

/** Stop for good with this token (revoked / refused) until a new one is saved. */
async function halt(state, message) {
  clearTimers();
  dropSocket();
  const token = conn.token;
  conn.token = null;
  conn.attempt = 0;
  await chrome.storage.local.set({ halted: { token, state, message } });
  await setStatus(state, message);
}

function send(socket, frame) {
  if (socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(frame));
  return true;
}

// -- commands ----------------------------------------------------------------------------

/** Commands act on one tab, so they run one at a time in arrival order. */
function enqueue(socket, frame) {
  queue = queue.then(() => execute(socket, frame)).catch(() => {});
}

async function execute(socket, frame) {
  // Queued behind a command whose socket has since dropped: the hub already failed it.
  if (socket.readyState !== WebSocket.OPEN) return;
  let reply;
  try {
    const data = await runCommand(frame.cmd, frame.args, conn.serverUrl);
    reply = { type: "result", id: frame.id, ok: true, data: data || {} };
  } catch (error) {
    const message =
      error instanceof CommandFailure ? error.message : String((error && error.message) || error);
    reply = { type: "result", id: frame.id, ok: false, error: message };
  }
  // The hub fails a command whose socket dropped; a result never crosses sockets.
  send(socket, reply);
}

// -- keepalive ---------------------------------------------------------------------------

setInterval(() => {
  const socket = conn.socket;
  if (socket && socket.readyState === WebSocket.OPEN) {
    if (Date.now() - conn.lastReceived > SILENCE_LIMIT_MS) {
      socket.close(4000, "silent");
      return;
    }
    send(socket, { type: "ping" }); // answered with a pong: traffic both ways
  } else if (conn.token) {
    chrome.runtime.getPlatformInfo(); // keeps the worker up while it reconnects
  }
}, KEEPALIVE_MS);

// -- events ------------------------------------------------------------------------------

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  if (sender.id !== chrome.runtime.id || !message) return false;
  if (message.type === "connect") {
    (async () => {
      const serverUrl = normalizeServerUrl(message.serverUrl || SERVER_URL);
      const token = String(message.token || "").trim();
      await chrome.storage.local.set({ token, serverUrl });
      await chrome.storage.local.remove("halted");
      conn.attempt = 0;
      conn.checkedToken = false;
      if (token) connect(token, serverUrl);
      else {
        clearTimers();
        dropSocket();
        conn.token = null;
        await setStatus("idle", "No agent token saved");
      }
      reply({ ok: true });
    })();
    return true;
  }
  if (message.type === "status") {
    chrome.storage.session.get("status").then((stored) => reply(stored.status || null));
    return true;
  }
  return false;
});

chrome.runtime.onStartup.addListener(() => boot());
chrome.runtime.onInstalled.addListener(() => boot());
chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === ALARM) boot();
});
// If the worker was stopped anyway (browser suspended, say), the alarm wakes it.
chrome.alarms.create(ALARM, { periodInMinutes: 0.5 });

boot();

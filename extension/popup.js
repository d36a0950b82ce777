// The popup: paste the agent token, Save & Connect, and watch the connection status.

import { SERVER_URL } from "./config.js";

const VERSION = chrome.runtime.getManifest().version;
const HEARTBEAT_PATH = "/api/extension/heartbeat";

const form = document.getElementById("connect-form");
const tokenField = document.getElementById("token");
const serverField = document.getElementById("server");
const saveButton = document.getElementById("save");
const statusLine = document.getElementById("status");
const agentLine = document.getElementById("agent");

const LABELS = {
  idle: "Not connected",
  connecting: "Connecting…",
  connected: "Connected",
  error: "Error",
  revoked: "Token revoked",
};

function normalizeServerUrl(value) {
  return String(value || "").trim().replace(/\/+$/, "");
}

function render(status) {
  const state = (status && status.state) || "idle";
  const message = (status && status.message) || "";
  statusLine.dataset.state = state;
  if (state === "error") statusLine.textContent = message ? `Error: ${message}` : LABELS.error;
  else if (state === "revoked") statusLine.textContent = message || LABELS.revoked;
  else if (state === "connecting" && message) statusLine.textContent = `Connecting… ${message}`;
  else statusLine.textContent = LABELS[state] || state;
}

function showAgent(name) {
  agentLine.hidden = !name;
  agentLine.textContent = name ? `Agent: ${name}` : "";
}

async function load() {
  document.getElementById("version").textContent = `Extension ${VERSION}`;
  const stored = await chrome.storage.local.get(["token", "serverUrl", "agentName"]);
  tokenField.value = stored.token || "";
  serverField.value = stored.serverUrl || SERVER_URL;
  showAgent(stored.agentName);
  const session = await chrome.storage.session.get("status");
  render(session.status);
}

chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "session" && changes.status) render(changes.status.newValue);
  if (area === "local" && changes.agentName) showAgent(changes.agentName.newValue);
});

/** POST /api/extension/heartbeat once: marks the agent online and names it. Returns the
 * agent, or throws with what to show. `unreachable` errors still let the worker retry. */
async function heartbeat(serverUrl, token) {
  let response;
  try {
    response = await fetch(serverUrl + HEARTBEAT_PATH, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, version: VERSION }),
    });
  } catch {
    const error = new Error(`Cannot reach ${serverUrl}`);
    error.unreachable = true;
    throw error;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || `Server answered HTTP ${response.status}`);
    error.unreachable = response.status >= 500;
    throw error;
  }
  return body.agent || null;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = tokenField.value.trim();
  const serverUrl = normalizeServerUrl(serverField.value || SERVER_URL);
  if (!token) {
    render({ state: "error", message: "Paste the agent token first" });
    return;
  }
  try {
    new URL(serverUrl);
  } catch {
    render({ state: "error", message: "The server URL is not a valid URL" });
    return;
  }
  saveButton.disabled = true;
  render({ state: "connecting" });
  try {
    let agent = null;
    try {
      agent = await heartbeat(serverUrl, token);
    } catch (error) {
      if (!error.unreachable) {
        render({ state: "error", message: error.message });
        return;
      }
      // The server is down: save anyway, the worker keeps trying to connect.
    }
    await chrome.storage.local.set({ agentName: agent ? agent.name : "" });
    await chrome.runtime.sendMessage({ type: "connect", token, serverUrl });
  } finally {
    saveButton.disabled = false;
  }
});

load();

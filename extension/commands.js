// The atomic commands (flows/commands.py) on a dedicated working tab, with the same
// semantics as the runner's PlaywrightExecutor. Failures throw CommandFailure whose
// message starts with "timeout:" (a timeout) or "not found:" (no selector matched).

import * as cdp from "./cdp.js";
import { Keyboard } from "./keyboard.js";
import { pageExpression } from "./page.js";

const DEFAULTS = {
  navigateMs: 30_000,
  elementMs: 10_000,
  waitMs: 10_000,
};
const MAX_MEDIA_BYTES = 10 * 1024 * 1024;
const TAB_KEY = "workTabId";
const keyboards = new Map();

export class CommandFailure extends Error {}

const timeout = (message) => new CommandFailure(`timeout: ${message}`);
const notFound = (message) => new CommandFailure(`not found: ${message}`);

// The hub gives up on a command after 60 s; past this the queue moves on without it.
const GIVE_UP_MS = 65_000;

/** Run `cmd` with `args`; `serverUrl` resolves relative media URLs. Returns `data`. */
export async function runCommand(cmd, args, serverUrl) {
  if (!Object.hasOwn(HANDLERS, cmd)) throw new CommandFailure(`Unknown command '${cmd}'`);
  const handler = HANDLERS[cmd];
  args = args || {};
  const limit = Math.max(
    GIVE_UP_MS,
    Number(args.timeoutMs || 0) + 5_000,
    Number(args.seconds || 0) * 1000 + 5_000,
  );
  let timer;
  const giveUp = new Promise((_, reject) => {
    timer = setTimeout(() => reject(timeout(`${cmd} did not finish in ${limit} ms`)), limit);
  });
  try {
    return await Promise.race([handler(args, serverUrl), giveUp]);
  } catch (error) {
    if (error instanceof CommandFailure) throw error;
    if (error instanceof cdp.DetachedError) {
      throw new CommandFailure(`Lost the working tab (closed, or debugging cancelled): ${error.message}`);
    }
    throw new CommandFailure(String((error && error.message) || error));
  } finally {
    clearTimeout(timer);
  }
}

const HANDLERS = {
  navigate,
  click,
  type: typeCommand,
  wait,
  evaluate,
  screenshot,
  cookies,
  upload,
  press,
};

// -- the working tab ---------------------------------------------------------------------

async function storedTab() {
  const stored = await chrome.storage.session.get(TAB_KEY);
  const tabId = stored[TAB_KEY];
  if (tabId === undefined) return null;
  try {
    return await chrome.tabs.get(tabId);
  } catch {
    cdp.forget(tabId);
    return null;
  }
}

/** Open the working tab at `url` and wait for it to load (create-with-URL: creating a
 * blank tab and navigating it right away sometimes loses the navigation). */
async function openTab(url, waitForLoad, deadline) {
  const tab = await chrome.tabs.create({ url, active: true });
  await chrome.storage.session.set({ [TAB_KEY]: tab.id });
  await untilLoaded(tab.id, waitForLoad, deadline, url);
  await cdp.attach(tab.id);
  return tab.id;
}

/** The working tab's id, opening it (blank) for commands that come before a navigate. */
async function tabId() {
  const tab = await storedTab();
  if (tab) {
    await cdp.attach(tab.id);
    return tab.id;
  }
  return openTab("about:blank", true, Date.now() + DEFAULTS.navigateMs);
}

/** Resolves once tab `id` has loaded (or committed, when `waitForLoad` is false). */
function untilLoaded(id, waitForLoad, deadline, url) {
  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (error) => {
      if (finished) return;
      finished = true;
      chrome.tabs.onUpdated.removeListener(onUpdated);
      clearInterval(poll);
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const check = (tab) => {
      if (tab.pendingUrl) return; // still before the commit
      if (!waitForLoad && tab.url && tab.url !== "about:blank") finish();
      else if (tab.status === "complete") finish();
    };
    const onUpdated = (updatedId, change, tab) => {
      if (updatedId === id) check(tab);
    };
    chrome.tabs.onUpdated.addListener(onUpdated);
    const poll = setInterval(() => {
      chrome.tabs.get(id).then(check, () => finish(new CommandFailure("The working tab was closed")));
    }, 100);
    const timer = setTimeout(
      () => finish(timeout(`Navigation to ${url} did not finish in time`)),
      Math.max(0, deadline - Date.now()),
    );
  });
}

/** Navigate an existing tab: resolves when the new document has loaded (committed). */
function navigateTab(id, url, waitForLoad, deadline) {
  return new Promise((resolve, reject) => {
    let finished = false;
    let started = false;
    const finish = (error) => {
      if (finished) return;
      finished = true;
      chrome.tabs.onUpdated.removeListener(onUpdated);
      clearTimeout(timer);
      clearTimeout(fallback);
      if (error) reject(error);
      else resolve();
    };
    const onUpdated = (updatedId, change) => {
      if (updatedId !== id) return;
      if (change.status === "loading") started = true;
      if (!started) return;
      if (!waitForLoad && change.status === "loading") finish();
      if (change.status === "complete") finish();
    };
    chrome.tabs.onUpdated.addListener(onUpdated);
    const timer = setTimeout(
      () => finish(timeout(`Navigation to ${url} did not finish in time`)),
      Math.max(0, deadline - Date.now()),
    );
    // A same-document navigation (only the #fragment changes) never reports "loading".
    const fallback = setTimeout(async () => {
      if (started) return;
      const tab = await chrome.tabs.get(id).catch(() => null);
      if (tab && tab.status === "complete" && tab.url === url) finish();
    }, 1000);
    // Brought to the front: a hidden tab's timers and frames are throttled.
    chrome.tabs.update(id, { url, active: true }).then(
      (tab) => {
        if (tab && tab.status === "loading" && tab.pendingUrl === undefined && tab.url === url) {
          started = true;
        }
      },
      (error) => finish(new CommandFailure(String(error.message || error))),
    );
  });
}

// -- helpers ---------------------------------------------------------------------------

function remaining(deadline) {
  return Math.max(1, deadline - Date.now());
}

/** pageOp in the tab, retried in the next document when a navigation replaces the page
 * mid-call (until `deadline`). */
async function inPage(id, op, args, deadline) {
  for (;;) {
    try {
      return await cdp.evaluate(id, pageExpression(op, args));
    } catch (error) {
      if (cdp.isContextGone(error) && Date.now() < deadline) {
        await sleep(20);
        continue;
      }
      throw error;
    }
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function badSelector(result) {
  return result && typeof result === "object" && "error" in result
    ? new CommandFailure(`Bad selector: ${result.error}`)
    : null;
}

/** The first selector of `selectors` with an element in `state` by `deadline`. */
async function firstMatching(id, selectors, state, deadline) {
  for (;;) {
    const index = await inPage(
      id,
      "first",
      { sels: selectors, state, timeoutMs: remaining(deadline) },
      deadline,
    );
    const bad = badSelector(index);
    if (bad) throw bad;
    if (index >= 0) return selectors[index];
    if (Date.now() >= deadline) return null;
  }
}

function describeSelectors(selectors) {
  return selectors.length === 1 ? selectors[0] : JSON.stringify(selectors);
}

/** Click the first visible element of `selector` with a trusted mouse click at its
 * centre, once it is enabled, stable and not covered. */
async function clickElement(id, selector, deadline) {
  let reason = "no visible element matches";
  for (;;) {
    const point = await inPage(id, "point", { sel: selector }, deadline);
    const bad = badSelector(point);
    if (bad) throw bad;
    if (point && typeof point.x === "number") {
      const at = { x: point.x, y: point.y, button: "left", clickCount: 1 };
      await cdp.send(id, "Input.dispatchMouseEvent", { type: "mouseMoved", x: at.x, y: at.y });
      await cdp.send(id, "Input.dispatchMouseEvent", { type: "mousePressed", buttons: 1, ...at });
      await cdp.send(id, "Input.dispatchMouseEvent", { type: "mouseReleased", buttons: 0, ...at });
      return;
    }
    if (point && point.retry) reason = point.retry;
    if (Date.now() >= deadline) {
      throw notFound(`${selector} did not become clickable: ${reason}`);
    }
    await sleep(point && point.missing ? 50 : 20);
  }
}

function keyboardFor(id) {
  let keyboard = keyboards.get(id);
  if (!keyboard) {
    keyboard = new Keyboard((method, params) => cdp.send(id, method, params));
    keyboards.set(id, keyboard);
  }
  return keyboard;
}

// -- commands --------------------------------------------------------------------------

async function navigate(args) {
  const url = String(args.url);
  const waitForLoad = args.waitForLoad !== false;
  const deadline = Date.now() + (args.timeoutMs || DEFAULTS.navigateMs);
  const tab = await storedTab();
  let id;
  if (tab) {
    id = tab.id;
    // Attached before navigating so a "Leave site?" prompt is answered; a page the
    // debugger may not attach to (chrome://) is simply navigated away from.
    await cdp.attach(id).catch(() => {});
    await navigateTab(id, url, waitForLoad, deadline);
    await cdp.attach(id);
  } else {
    id = await openTab(url, waitForLoad, deadline);
  }
  if (!waitForLoad) return { url };
  const href = await inPage(id, "href", {}, deadline);
  if (typeof href === "string" && href.startsWith("chrome-error://")) {
    throw new CommandFailure(`Could not load ${url} (network error)`);
  }
  return { url: href };
}

async function click(args) {
  const selectors = args.selectors || [];
  if (!selectors.length) throw new CommandFailure("click needs at least one selector");
  const deadline = Date.now() + (args.timeoutMs || DEFAULTS.elementMs);
  const id = await tabId();
  const selector =
    selectors.length === 1 ? selectors[0] : await firstMatching(id, selectors, "visible", deadline);
  if (selector === null) {
    throw notFound(`No visible element matches any of ${JSON.stringify(selectors)}`);
  }
  await clickElement(id, selector, deadline);
  return { matched: selector };
}

async function typeCommand(args) {
  const deadline = Date.now() + (args.timeoutMs || DEFAULTS.elementMs);
  const id = await tabId();
  const selector = String(args.selector);
  if ((await firstMatching(id, [selector], "visible", deadline)) === null) {
    throw notFound(`No visible element matches ${selector}`);
  }
  const state = await inPage(id, "focused", { sel: selector }, deadline);
  const bad = badSelector(state);
  if (bad) throw bad;
  if (!state || !state.focused) await clickElement(id, selector, deadline);
  const keyboard = keyboardFor(id);
  const text = String(args.text ?? "").replace(/\r\n/g, "\n").replace(/\r/g, "\n");
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (i) await keyboard.press("Enter");
    // A typed Tab would move the focus out of the editor: insert it instead.
    const parts = lines[i].split("\t");
    for (let j = 0; j < parts.length; j++) {
      if (j) await keyboard.insertText("\t");
      if (parts[j]) await keyboard.type(parts[j]);
    }
  }
  return {};
}

async function wait(args) {
  if (args.selector === undefined || args.selector === null) {
    await sleep(Math.max(0, Number(args.seconds || 0) * 1000));
    return {};
  }
  const state = args.state || "visible";
  const deadline = Date.now() + (args.timeoutMs || DEFAULTS.waitMs);
  const id = await tabId();
  for (;;) {
    const reached = await inPage(
      id,
      "until",
      { sel: args.selector, state, timeoutMs: remaining(deadline) },
      deadline,
    );
    const bad = badSelector(reached);
    if (bad) throw bad;
    if (reached === true) return {};
    if (Date.now() >= deadline) break;
  }
  const message = `${args.selector} did not become ${state}`;
  throw state === "visible" || state === "attached" ? notFound(message) : timeout(message);
}

async function evaluate(args) {
  const id = await tabId();
  // The runner (Playwright) always awaits a returned promise; so does the extension.
  const result = await cdp.evaluateLikePlaywright(id, String(args.expression));
  return { result };
}

async function screenshot(args) {
  const id = await tabId();
  const format = args.format === "jpeg" ? "jpeg" : "png";
  const params = { format };
  if (format === "jpeg" && typeof args.quality === "number") params.quality = args.quality;
  const shot = await cdp.send(id, "Page.captureScreenshot", params);
  return { dataUri: `data:image/${format};base64,${shot.data}` };
}

const SAME_SITE = { no_restriction: "None", lax: "Lax", strict: "Strict", unspecified: "Lax" };

async function cookies(args) {
  const urls = Array.isArray(args.urls) && args.urls.length ? args.urls : null;
  const found = urls
    ? (await Promise.all(urls.map((url) => chrome.cookies.getAll({ url })))).flat()
    : await chrome.cookies.getAll({});
  const seen = new Set();
  const out = [];
  for (const c of found) {
    const key = `${c.domain}|${c.path}|${c.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      name: c.name,
      value: c.value,
      domain: c.domain,
      path: c.path,
      expires: c.session || c.expirationDate === undefined ? -1 : c.expirationDate,
      httpOnly: c.httpOnly,
      secure: c.secure,
      sameSite: SAME_SITE[c.sameSite] || "Lax",
    });
  }
  return { cookies: out };
}

async function upload(args, serverUrl) {
  const files = args.files || [];
  if (!files.length) throw new CommandFailure("upload needs at least one file");
  const deadline = Date.now() + (args.timeoutMs || DEFAULTS.elementMs);
  const fetched = await Promise.all(files.map((file) => fetchMedia(file, serverUrl)));
  const id = await tabId();
  if ((await firstMatching(id, [args.selector], "attached", deadline)) === null) {
    throw notFound(`No file input matches ${args.selector}`);
  }
  const result = await inPage(id, "files", { sel: args.selector, files: fetched }, deadline);
  if (result && result.missing) throw notFound(`No file input matches ${args.selector}`);
  if (result && result.error) throw new CommandFailure(result.error);
  return { count: result.count };
}

async function press(args) {
  const deadline = Date.now() + (args.timeoutMs || DEFAULTS.elementMs);
  const id = await tabId();
  if (args.selector !== undefined && args.selector !== null) {
    if ((await firstMatching(id, [args.selector], "visible", deadline)) === null) {
      throw notFound(`No visible element matches ${args.selector}`);
    }
    const focused = await inPage(id, "focus", { sel: args.selector }, deadline);
    if (focused && focused.missing) throw notFound(`No visible element matches ${args.selector}`);
  }
  await keyboardFor(id).press(String(args.key));
  return {};
}

// -- media -------------------------------------------------------------------------------

/** Fetch one upload file: `{url, type, name?}` -> `{name, type, data (base64)}`.
 * Relative URLs (/api/media-proxy/...) are the server's own. */
async function fetchMedia(file, serverUrl) {
  let url;
  try {
    url = new URL(file.url, serverUrl + "/").href;
  } catch {
    throw new CommandFailure(`Bad media URL ${file.url}`);
  }
  let response;
  try {
    response = await fetch(url, { credentials: "omit" });
  } catch (error) {
    throw new CommandFailure(`Could not fetch media ${url}: ${error.message || error}`);
  }
  if (!response.ok) throw new CommandFailure(`Could not fetch media ${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_MEDIA_BYTES) throw new CommandFailure(`Media at ${url} is larger than 10 MB`);
  const header = (response.headers.get("content-type") || "").split(";")[0].trim();
  const type = sniffImage(bytes) || file.type || header || "application/octet-stream";
  const name = file.name || decodeURIComponent(new URL(url).pathname.split("/").pop() || "") || "image";
  return { name, type, data: toBase64(bytes) };
}

function sniffImage(b) {
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "image/png";
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return "image/gif";
  const riff = b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46;
  if (riff && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return "image/webp";
  return null;
}

function toBase64(bytes) {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

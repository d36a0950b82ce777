// chrome.debugger sessions on the working tab: attach once, answer dialogs, send commands.

const PROTOCOL_VERSION = "1.3";
const attached = new Set();

// Messages that mean "the document the command ran in went away": the caller may retry
// in the new document.
const GONE = [
  "Execution context was destroyed",
  "Cannot find context with specified id",
  "Inspected target navigated or closed",
  "Promise was collected",
  "Cannot find default execution context",
];

export function isContextGone(error) {
  const message = String((error && error.message) || error);
  return GONE.some((marker) => message.includes(marker));
}

export class DetachedError extends Error {}

// "Leave site?" prompts are accepted so a draft never blocks navigation; alerts and
// confirms are dismissed (what the runner does).
chrome.debugger.onEvent.addListener((source, method, params) => {
  if (method !== "Page.javascriptDialogOpening" || source.tabId === undefined) return;
  chrome.debugger
    .sendCommand({ tabId: source.tabId }, "Page.handleJavaScriptDialog", {
      accept: params.type === "beforeunload",
    })
    .catch(() => {}); // another client (a test's Playwright) answered first
});

chrome.debugger.onDetach.addListener((source) => {
  if (source.tabId !== undefined) attached.delete(source.tabId);
});

/** Attach the debugger to `tabId` (once) with the Page domain on for dialog events. */
export async function attach(tabId) {
  if (attached.has(tabId)) return;
  try {
    await chrome.debugger.attach({ tabId }, PROTOCOL_VERSION);
  } catch (error) {
    // A restarted service worker finds its earlier session still attached.
    if (!/already attached/i.test(String(error.message))) throw error;
  }
  attached.add(tabId);
  await send(tabId, "Page.enable");
  // Keyboard input and focus behave as in a focused window even when it is not.
  await send(tabId, "Emulation.setFocusEmulationEnabled", { enabled: true }).catch(() => {});
}

export function forget(tabId) {
  attached.delete(tabId);
}

export async function send(tabId, method, params) {
  try {
    return await chrome.debugger.sendCommand({ tabId }, method, params || {});
  } catch (error) {
    const message = String((error && error.message) || error);
    if (/not attached|No tab with given id|Detached while handling/i.test(message)) {
      attached.delete(tabId);
      throw new DetachedError(message);
    }
    throw error;
  }
}

/** Evaluate `expression` in the page's main world, awaiting a promise; the value by
 * JSON. Page exceptions are thrown as Error with the exception's first line. */
export async function evaluate(tabId, expression) {
  const response = await send(tabId, "Runtime.evaluate", {
    expression,
    awaitPromise: true,
    returnByValue: true,
    userGesture: true,
  });
  throwIfException(response);
  return valueOf(response.result);
}

/** Like `evaluate`, but when the expression's value is a function it is called (and
 * its promise awaited) — what Playwright's page.evaluate does with a string. */
export async function evaluateLikePlaywright(tabId, expression) {
  const response = await send(tabId, "Runtime.evaluate", {
    expression,
    awaitPromise: true,
    returnByValue: true,
    userGesture: true,
  });
  throwIfException(response);
  if (response.result.type !== "function") return valueOf(response.result);
  const group = "bredgio-evaluate";
  try {
    const handle = await send(tabId, "Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: false,
      objectGroup: group,
      userGesture: true,
    });
    throwIfException(handle);
    const called = await send(tabId, "Runtime.callFunctionOn", {
      functionDeclaration: "function () { return this(); }",
      objectId: handle.result.objectId,
      awaitPromise: true,
      returnByValue: true,
      userGesture: true,
    });
    throwIfException(called);
    return valueOf(called.result);
  } finally {
    send(tabId, "Runtime.releaseObjectGroup", { objectGroup: group }).catch(() => {});
  }
}

function throwIfException(response) {
  const details = response.exceptionDetails;
  if (!details) return;
  const description =
    (details.exception && (details.exception.description || details.exception.value)) ||
    details.text ||
    "Evaluation failed";
  throw new Error(String(description).split("\n")[0]);
}

function valueOf(remote) {
  if (!remote || remote.type === "undefined") return null;
  if ("value" in remote) return remote.value === undefined ? null : remote.value;
  return null; // NaN, Infinity, -0 and bigints have no JSON form
}

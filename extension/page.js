// What runs inside the working tab's page (main world, through Runtime.evaluate).
//
// `pageOp` must stay self-contained: it is sent as source text. Selectors are CSS
// (optionally "css=") or "xpath=" + XPath 1.0; "visible" is Playwright's definition, the
// one the runner and the flows' scripts use.

/* eslint-disable no-undef */
export function pageOp(op, A) {
  const q = (sel) => {
    if (sel.startsWith("xpath=")) {
      const found = document.evaluate(sel.slice(6), document, null,
        XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      const out = [];
      for (let i = 0; i < found.snapshotLength; i++) {
        const node = found.snapshotItem(i);
        if (node instanceof Element) out.push(node);
      }
      return out;
    }
    return Array.from(document.querySelectorAll(sel.startsWith("css=") ? sel.slice(4) : sel));
  };
  const visible = (el) => {
    if (!(el instanceof Element)) return false;
    if (el.checkVisibility && !el.checkVisibility()) return false;
    if (getComputedStyle(el).visibility !== "visible") return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const firstVisible = (sel) => q(sel).find(visible) || null;
  const matches = (sel, state) => {
    const els = q(sel);
    if (state === "visible") return els.some(visible);
    if (state === "attached") return els.length > 0;
    if (state === "hidden") return !els.some(visible);
    return els.length === 0; // detached
  };
  // Polls `check` on DOM mutations (and every 100 ms) until it returns something other
  // than null/undefined, or `ms` pass (then resolves null).
  const waitFor = (check, ms) => new Promise((resolve) => {
    let done = false, queued = null, observer = null;
    const finish = (value) => {
      if (done) return;
      done = true;
      if (observer) observer.disconnect();
      clearTimeout(queued);
      clearTimeout(timer);
      clearInterval(ticker);
      resolve(value);
    };
    const tick = () => {
      queued = null;
      if (done) return;
      let value;
      try { value = check(); } catch (e) { value = { error: String(e && e.message || e) }; }
      if (value !== null && value !== undefined) finish(value);
    };
    const schedule = () => { if (!done && queued === null) queued = setTimeout(tick, 8); };
    const timer = setTimeout(() => { tick(); finish(null); }, Math.max(0, ms));
    const ticker = setInterval(schedule, 100);
    tick();
    if (done) return;
    observer = new MutationObserver(schedule);
    observer.observe(document, { subtree: true, childList: true, attributes: true,
      characterData: true });
  });
  const frame = () => new Promise((resolve) => {
    let settled = false;
    const go = () => { if (!settled) { settled = true; resolve(); } };
    requestAnimationFrame(go);
    setTimeout(go, 50); // rAF is paused in hidden tabs
  });
  const ROLES_WITH_DISABLED = new Set(["application", "button", "composite", "gridcell",
    "group", "input", "link", "menuitem", "scrollbar", "separator", "tab", "checkbox",
    "columnheader", "combobox", "grid", "listbox", "menu", "menubar", "menuitemcheckbox",
    "menuitemradio", "option", "radio", "radiogroup", "row", "rowheader", "searchbox",
    "select", "slider", "spinbutton", "switch", "tablist", "textbox", "toolbar", "tree",
    "treegrid", "treeitem"]);
  const roleOf = (el) => {
    const explicit = (el.getAttribute("role") || "").trim().split(/\s+/)[0];
    if (explicit) return explicit;
    const tag = el.tagName;
    if (tag === "BUTTON") return "button";
    if (tag === "SELECT") return "combobox";
    if (tag === "TEXTAREA") return "textbox";
    if (tag === "A" && el.hasAttribute("href")) return "link";
    if (tag === "INPUT") {
      const type = (el.getAttribute("type") || "text").toLowerCase();
      if (["button", "submit", "reset", "image"].includes(type)) return "button";
      if (type === "checkbox" || type === "radio") return type;
      return "textbox";
    }
    return "";
  };
  const ariaDisabled = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const value = (node.getAttribute("aria-disabled") || "").toLowerCase();
      if (value === "true") return true;
      if (value === "false") return false;
    }
    return false;
  };
  const disabled = (el) => {
    const native = ["BUTTON", "INPUT", "SELECT", "TEXTAREA", "OPTION", "OPTGROUP"];
    if (native.includes(el.tagName) && (el.hasAttribute("disabled")
      || el.closest("fieldset[disabled]"))) return true;
    return ROLES_WITH_DISABLED.has(roleOf(el)) && ariaDisabled(el);
  };
  const inViewport = (r) => r.top >= 0 && r.left >= 0
    && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
  const hits = (el, x, y) => {
    let hit = document.elementFromPoint(x, y);
    while (hit && hit.shadowRoot) {
      const inner = hit.shadowRoot.elementFromPoint(x, y);
      if (!inner || inner === hit) break;
      hit = inner;
    }
    for (let node = hit; node; node = node.parentNode || node.host) {
      if (node === el) return true;
    }
    return false;
  };
  const describeEl = (el) => {
    const id = el.id ? "#" + el.id : "";
    const role = el.getAttribute("role") ? `[role=${el.getAttribute("role")}]` : "";
    return `<${el.tagName.toLowerCase()}${id}${role}>`;
  };

  switch (op) {
    // Index of the first selector with an element in `state`, re-checked until timeoutMs.
    case "first":
      return waitFor(() => {
        for (let i = 0; i < A.sels.length; i++) if (matches(A.sels[i], A.state)) return i;
        return null;
      }, A.timeoutMs).then((v) => (v === null ? -1 : v));
    // Whether `sel` reaches `state` within timeoutMs.
    case "until":
      return waitFor(() => (matches(A.sel, A.state) ? true : null), A.timeoutMs)
        .then((v) => v === true || v);
    // Where to click the first visible match: scrolled into view, stable, enabled, and
    // the topmost element at its centre. {x, y} or {retry: why} or {missing: true}.
    case "point":
      return (async () => {
        const el = firstVisible(A.sel);
        if (!el) return { missing: true };
        if (disabled(el)) return { retry: "element is disabled" };
        if (!inViewport(el.getBoundingClientRect())) {
          el.scrollIntoView({ block: "center", inline: "center", behavior: "instant" });
        }
        const before = el.getBoundingClientRect();
        await frame();
        if (!el.isConnected) return { retry: "element was detached" };
        const rect = el.getBoundingClientRect();
        if (rect.x !== before.x || rect.y !== before.y || rect.width !== before.width
          || rect.height !== before.height) return { retry: "element is not stable" };
        const box = el.getClientRects()[0] || rect;
        const x = box.left + box.width / 2;
        const y = box.top + box.height / 2;
        if (!hits(el, x, y)) {
          const other = document.elementFromPoint(x, y);
          return { retry: other ? `${describeEl(other)} intercepts pointer events`
            : "element is outside the viewport" };
        }
        return { x, y };
      })();
    // Does the first visible match hold the focus (itself or a descendant)?
    case "focused": {
      const el = firstVisible(A.sel);
      if (!el) return { missing: true };
      const active = document.activeElement;
      return { focused: el === active || el.contains(active) };
    }
    case "focus": {
      const el = firstVisible(A.sel);
      if (!el) return { missing: true };
      el.focus();
      return { focused: true };
    }
    // Attach files (base64) to the first element matching `sel` as a user's pick would.
    case "files": {
      const el = q(A.sel)[0];
      if (!el) return { missing: true };
      if (!(el instanceof HTMLInputElement) || el.type !== "file") {
        return { error: `${describeEl(el)} is not a file input` };
      }
      if (A.files.length > 1 && !el.multiple) {
        return { error: "Non-multiple file input can only accept single file" };
      }
      const transfer = new DataTransfer();
      for (const file of A.files) {
        const binary = atob(file.data);
        const bytes = new Uint8Array(binary.length);
        for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
        transfer.items.add(new File([bytes], file.name, { type: file.type }));
      }
      el.files = transfer.files;
      el.dispatchEvent(new Event("input", { bubbles: true, composed: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
      return { count: el.files.length };
    }
    case "href":
      return location.href;
    default:
      return { error: `unknown page operation ${op}` };
  }
}

/** The expression that runs `pageOp(op, args)` in the page. */
export function pageExpression(op, args) {
  return `(${pageOp.toString()})(${JSON.stringify(op)}, ${JSON.stringify(args || {})})`;
}

// Key definitions for trusted keyboard input (Input.dispatchKeyEvent), the same US layout
// Playwright's keyboard uses, so `type` and `press` produce the events the runner does.

// code -> [keyCode, key, shifted key?, location?]
const LAYOUT = {
  Escape: [27, "Escape"],
  F1: [112, "F1"], F2: [113, "F2"], F3: [114, "F3"], F4: [115, "F4"], F5: [116, "F5"],
  F6: [117, "F6"], F7: [118, "F7"], F8: [119, "F8"], F9: [120, "F9"], F10: [121, "F10"],
  F11: [122, "F11"], F12: [123, "F12"],
  Backquote: [192, "`", "~"],
  Digit1: [49, "1", "!"], Digit2: [50, "2", "@"], Digit3: [51, "3", "#"],
  Digit4: [52, "4", "$"], Digit5: [53, "5", "%"], Digit6: [54, "6", "^"],
  Digit7: [55, "7", "&"], Digit8: [56, "8", "*"], Digit9: [57, "9", "("],
  Digit0: [48, "0", ")"],
  Minus: [189, "-", "_"], Equal: [187, "=", "+"], Backslash: [220, "\\", "|"],
  Backspace: [8, "Backspace"],
  Tab: [9, "Tab"],
  KeyQ: [81, "q", "Q"], KeyW: [87, "w", "W"], KeyE: [69, "e", "E"], KeyR: [82, "r", "R"],
  KeyT: [84, "t", "T"], KeyY: [89, "y", "Y"], KeyU: [85, "u", "U"], KeyI: [73, "i", "I"],
  KeyO: [79, "o", "O"], KeyP: [80, "p", "P"],
  BracketLeft: [219, "[", "{"], BracketRight: [221, "]", "}"],
  CapsLock: [20, "CapsLock"],
  KeyA: [65, "a", "A"], KeyS: [83, "s", "S"], KeyD: [68, "d", "D"], KeyF: [70, "f", "F"],
  KeyG: [71, "g", "G"], KeyH: [72, "h", "H"], KeyJ: [74, "j", "J"], KeyK: [75, "k", "K"],
  KeyL: [76, "l", "L"],
  Semicolon: [186, ";", ":"], Quote: [222, "'", '"'],
  Enter: [13, "Enter"],
  ShiftLeft: [16, "Shift", undefined, 1],
  KeyZ: [90, "z", "Z"], KeyX: [88, "x", "X"], KeyC: [67, "c", "C"], KeyV: [86, "v", "V"],
  KeyB: [66, "b", "B"], KeyN: [78, "n", "N"], KeyM: [77, "m", "M"],
  Comma: [188, ",", "<"], Period: [190, ".", ">"], Slash: [191, "/", "?"],
  ShiftRight: [16, "Shift", undefined, 2],
  ControlLeft: [17, "Control", undefined, 1],
  MetaLeft: [91, "Meta", undefined, 1],
  AltLeft: [18, "Alt", undefined, 1],
  Space: [32, " "],
  AltRight: [18, "Alt", undefined, 2],
  AltGraph: [225, "AltGraph"],
  MetaRight: [92, "Meta", undefined, 2],
  ContextMenu: [93, "ContextMenu"],
  ControlRight: [17, "Control", undefined, 2],
  PrintScreen: [44, "PrintScreen"], ScrollLock: [145, "ScrollLock"], Pause: [19, "Pause"],
  PageUp: [33, "PageUp"], PageDown: [34, "PageDown"], Insert: [45, "Insert"],
  Delete: [46, "Delete"], Home: [36, "Home"], End: [35, "End"],
  ArrowLeft: [37, "ArrowLeft"], ArrowUp: [38, "ArrowUp"], ArrowRight: [39, "ArrowRight"],
  ArrowDown: [40, "ArrowDown"],
  NumLock: [144, "NumLock"],
  NumpadDivide: [111, "/", undefined, 3], NumpadMultiply: [106, "*", undefined, 3],
  NumpadSubtract: [109, "-", undefined, 3], NumpadAdd: [107, "+", undefined, 3],
  NumpadEnter: [13, "Enter", undefined, 3],
};

const ALIASES = {
  ShiftLeft: ["Shift"],
  ControlLeft: ["Control"],
  AltLeft: ["Alt"],
  MetaLeft: ["Meta"],
  Enter: ["\n", "\r"],
};

const MODIFIERS = { Alt: 1, Control: 2, Meta: 4, Shift: 8 };

function buildKeys() {
  const keys = new Map();
  for (const [code, [keyCode, key, shiftKey, location]] of Object.entries(LAYOUT)) {
    const base = { code, key, keyCode, location: location || 0, text: "" };
    if (key.length === 1) base.text = key;
    if (code === "Enter" || code === "NumpadEnter") base.text = "\r";
    const shifted = shiftKey ? { ...base, key: shiftKey, text: shiftKey } : undefined;
    keys.set(code, { ...base, shifted });
    for (const alias of ALIASES[code] || []) keys.set(alias, base);
    if (location) continue;
    if (key.length === 1) keys.set(key, base);
    if (shifted) keys.set(shiftKey, shifted);
  }
  return keys;
}

const KEYS = buildKeys();

/** Is `char` a key of the layout (typed as key presses rather than inserted text)? */
export function isLayoutKey(char) {
  return KEYS.has(char);
}

/** Splits "Control+Shift+a" into ["Control", "Shift", "a"]; a lone "+" stays a key. */
function splitKeys(combo) {
  const keys = [];
  let building = "";
  for (const char of combo) {
    if (char === "+" && building) {
      keys.push(building);
      building = "";
    } else {
      building += char;
    }
  }
  keys.push(building);
  return keys;
}

function describe(name, modifiers) {
  const found = KEYS.get(name);
  if (!found) throw new Error(`Unknown key: "${name}"`);
  const description = modifiers.has("Shift") && found.shifted ? found.shifted : found;
  // With any modifier other than Shift held, a key produces no text (a shortcut).
  const shortcut = modifiers.size > 1 || (modifiers.size === 1 && !modifiers.has("Shift"));
  return shortcut ? { ...description, text: "" } : description;
}

function mask(modifiers) {
  let value = 0;
  for (const name of modifiers) value |= MODIFIERS[name] || 0;
  return value;
}

/** Keyboard state of one tab: which modifiers are down. `send(method, params)` is a
 * debugger command on that tab. */
export class Keyboard {
  constructor(send) {
    this.send = send;
    this.modifiers = new Set();
  }

  async down(name) {
    const description = describe(name, this.modifiers);
    if (description.key in MODIFIERS) this.modifiers.add(description.key);
    const text = description.text;
    await this.send("Input.dispatchKeyEvent", {
      type: text ? "keyDown" : "rawKeyDown",
      modifiers: mask(this.modifiers),
      windowsVirtualKeyCode: description.keyCode,
      code: description.code,
      key: description.key,
      text,
      unmodifiedText: text,
      location: description.location,
      isKeypad: description.location === 3,
    });
  }

  async up(name) {
    const description = describe(name, this.modifiers);
    if (description.key in MODIFIERS) this.modifiers.delete(description.key);
    await this.send("Input.dispatchKeyEvent", {
      type: "keyUp",
      modifiers: mask(this.modifiers),
      windowsVirtualKeyCode: description.keyCode,
      code: description.code,
      key: description.key,
      location: description.location,
      isKeypad: description.location === 3,
    });
  }

  /** Press a key or a combination ("Enter", "Control+a"). */
  async press(combo) {
    const keys = splitKeys(combo);
    for (const name of keys) describe(name, new Set()); // unknown keys fail before any event
    const last = keys[keys.length - 1];
    for (const name of keys.slice(0, -1)) await this.down(name);
    await this.down(last);
    await this.up(last);
    for (const name of keys.slice(0, -1).reverse()) await this.up(name);
  }

  async insertText(text) {
    await this.send("Input.insertText", { text });
  }

  /** Type `text` character by character: layout keys as key presses, anything else
   * (emoji, CJK) inserted as text — what Playwright's keyboard.type does. */
  async type(text) {
    for (const char of text) {
      if (KEYS.has(char)) await this.press(char);
      else await this.insertText(char);
    }
  }
}

// Small DOM helpers shared by the views. Server text only ever goes in through textContent /
// createTextNode, and model Markdown only through markdown.js: nothing here parses a string as HTML.

import { onConfig, overInputLimit } from './config.js';
import { charCount, formatCount } from './text.js';

/** Build an element: el('p', {className: 'x', text: 'hi', attrs: {id: 'a'}}, child, ...). */
export function el(tag, { className, text, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  if (attrs) for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

/** Polite announcement for screen readers (copy confirmations and the like). */
export function announce(message) {
  const status = document.getElementById('status');
  status.textContent = '';
  // A fresh text node after a tick makes repeated identical messages announce again.
  requestAnimationFrame(() => { status.textContent = message; });
}

/** Fill an error box from describeError()'s {title, hint, requestId}. */
export function renderError(box, info) {
  const parts = [
    el('p', { className: 'error-title', text: info.title }),
    info.hint ? el('p', { className: 'error-hint', text: info.hint }) : null,
    info.requestId ? el('p', { className: 'error-id', text: `Request ID: ${info.requestId}` }) : null,
  ];
  // replaceChildren would write a missing part out as the text "null".
  box.replaceChildren(...parts.filter(Boolean));
  box.hidden = false;
}

export function clearError(box) {
  box.hidden = true;
  box.replaceChildren();
}

/**
 * Busy state for a form: its buttons are disabled and the submit button says what is happening.
 * Returns a function that undoes it. A disabled button loses focus, so focus comes back to it after.
 */
export function setBusy(form) {
  const submit = form.querySelector('button[type="submit"]');
  const hadFocus = document.activeElement === submit;
  const label = submit.textContent;
  form.setAttribute('aria-busy', 'true');
  submit.classList.add('is-busy');
  submit.textContent = submit.dataset.busyLabel || 'Working…';
  const buttons = [...form.querySelectorAll('button')];
  const wasDisabled = buttons.map((b) => b.disabled);
  buttons.forEach((b) => { b.disabled = true; });
  return () => {
    form.removeAttribute('aria-busy');
    submit.classList.remove('is-busy');
    submit.textContent = label;
    buttons.forEach((b, i) => { b.disabled = wasDisabled[i]; });
    if (hadFocus && (document.activeElement === document.body || document.activeElement === null)) submit.focus();
  };
}

/**
 * A button with a busy label (data-busy-label) keeps one width in both states, so Stop beside Send, or the
 * page around a form's button, does not move when the label changes. Measured on a copy outside the panels,
 * which may be hidden now (the page's fonts are the system's, so the widths hold).
 */
export function keepWidthWhenBusy(button) {
  const probe = button.cloneNode(true);
  probe.removeAttribute('id');
  probe.setAttribute('aria-hidden', 'true');
  probe.style.cssText = 'position: absolute; left: -9999px; top: 0; visibility: hidden';
  document.body.append(probe);
  const idle = probe.getBoundingClientRect().width;
  probe.classList.add('is-busy');
  probe.textContent = button.dataset.busyLabel;
  const busy = probe.getBoundingClientRect().width;
  probe.remove();
  button.style.setProperty('--width-when-busy', `${Math.ceil(Math.max(idle, busy))}px`);
}

/** Ctrl+Enter (Cmd+Enter on a Mac) in a text box submits its form. */
export function submitOnModEnter(textarea) {
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      textarea.form.requestSubmit();
    }
  });
}

/**
 * A chat's message box: Enter sends and Shift+Enter starts a new line, as in the chat apps people know;
 * Ctrl+Enter (Cmd+Enter) sends too. A touch screen's keyboard has no Shift+Enter, so there Enter stays a
 * line break and the Send button sends.
 */
export function sendOnEnter(textarea) {
  submitOnModEnter(textarea);
  textarea.addEventListener('keydown', (event) => {
    const plainEnter = event.key === 'Enter' && !(event.shiftKey || event.ctrlKey || event.metaKey || event.altKey);
    if (plainEnter && !event.isComposing && !window.matchMedia('(pointer: coarse)').matches) {
      event.preventDefault();
      textarea.form.requestSubmit();
    }
  });
}

export const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

/**
 * A live character counter: "n / limit" once the server's limit is known, "n characters" before.
 * `count()` says what counts (the chat adds its history); returns a function that refreshes it.
 */
export function attachCounter(textarea, counter, { count = () => charCount(textarea.value), suffix = '' } = {}) {
  let limit = null;
  const update = () => {
    const used = count();
    const over = overInputLimit(used) === true;
    counter.textContent = limit === null
      ? `${formatCount(used)} ${used === 1 ? 'character' : 'characters'}${suffix}`
      : `${formatCount(used)} / ${formatCount(limit)}${suffix}${over ? ' · over the limit' : ''}`;
    counter.classList.toggle('is-over', over);
    counter.classList.toggle('is-near', limit !== null && !over && used > limit * 0.9);
  };
  textarea.addEventListener('input', update);
  onConfig((config) => {
    limit = config.maxInputChars;
    update();
  });
  return update;
}

async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http pages have no Clipboard API; a hidden textarea and execCommand still work there.
  const area = el('textarea', { className: 'visually-hidden', attrs: { readonly: '' } });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy refused');
}

/** Copy text and show the result on the button itself for a moment. */
export async function copyWithFeedback(button, text) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  try {
    await writeClipboard(text);
    button.textContent = 'Copied';
    announce('Copied to the clipboard');
  } catch {
    button.textContent = 'Copy failed';
    announce('Could not copy; select the text and copy it by hand');
  }
  clearTimeout(button._resetTimer);
  button._resetTimer = setTimeout(() => { button.textContent = label; }, 1600);
}

/** Fill a textarea as if typed, so counters and listeners see it. */
export function setValue(textarea, value) {
  textarea.value = value;
  textarea.dispatchEvent(new Event('input', { bubbles: true }));
}

// Whether the three tools may be used now, and why not. One lock for the whole page: the sign-in
// (account.js) and the deployment's access mode set it; the views ask it before they call the API.
//
// While locked, the notice above the tools says why and offers what to do (sign in), and every button
// marked data-needs-access is disabled. The text boxes stay usable, so a person can write while signed
// out, and what they wrote survives the trip to the login page.

import { el } from './ui.js';

let lock = null; // null: the tools are open; else {title, hint, action: {label, run} | null}

function notice() {
  return document.getElementById('access-notice');
}

function render() {
  const box = notice();
  // Focus in the notice (on its button, say) would be lost as it is drawn anew: it goes to the new one.
  const hadFocus = box.contains(document.activeElement);
  if (!lock) {
    box.hidden = true;
    box.replaceChildren();
    // The tools are open again: focus goes to the one on show rather than to the top of the page.
    if (hadFocus) document.querySelector('[role="tabpanel"]:not([hidden])')?.focus();
  } else {
    box.replaceChildren(el('div', { className: 'access-text' },
      el('p', { className: 'access-title', text: lock.title }),
      lock.hint ? el('p', { className: 'access-hint', text: lock.hint }) : null));
    if (lock.action) {
      const action = el('button', { className: 'button primary small', text: lock.action.label, attrs: { type: 'button' } });
      action.addEventListener('click', lock.action.run);
      box.append(action);
    }
    box.hidden = false;
    if (hadFocus) (box.querySelector('button') || box).focus();
  }
  syncToolButtons();
}

/** True while the tools may not be used. */
export function toolsLocked() {
  return lock !== null;
}

/** Lock the tools: `title` says why, `hint` what to do, `action` ({label, run}) offers to do it. */
export function lockTools({ title, hint = '', action = null }) {
  lock = { title, hint, action };
  render();
}

export function unlockTools() {
  if (!lock) return;
  lock = null;
  render();
}

/** A button marked data-needs-access is disabled while the tools are locked or it is busy. */
export function syncToolButtons() {
  for (const button of document.querySelectorAll('[data-needs-access]')) {
    button.disabled = lock !== null || button.classList.contains('is-busy');
  }
}

/**
 * For a submit that arrives anyway (Ctrl+Enter, a button in the chat log): true when the tools are
 * locked, after taking the person to the notice that says why.
 */
export function refusedWhileLocked() {
  if (!lock) return false;
  const box = notice();
  (box.querySelector('button') || box).focus();
  return true;
}

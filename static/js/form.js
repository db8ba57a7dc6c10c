// The summarize and TODO forms share one life cycle: one request at a time, a clear word for an empty
// box, the busy state, and the server's error in the view's own error box.

import { refusedWhileLocked, syncToolButtons } from './access.js';
import { callJson, describeError } from './api.js';
import { overInputLimit } from './config.js';
import { charCount, formatCount } from './text.js';
import { clearError, renderError, setBusy, submitOnModEnter } from './ui.js';

export function formatUsage(data) {
  const parts = [];
  if (typeof data.model === 'string' && data.model) parts.push(data.model);
  const usage = data.usage;
  if (usage && Number.isFinite(usage.input_tokens) && Number.isFinite(usage.output_tokens)) {
    parts.push(`${formatCount(usage.input_tokens)} tokens in, ${formatCount(usage.output_tokens)} out`);
  }
  return parts.join(' · ');
}

/**
 * On submit, POST `payload(text)` to `path` and hand the JSON answer to `show(data)`.
 * `empty` is the {title, hint} shown when the box holds only whitespace.
 */
export function handleJsonForm({ form, input, errorBox, result, empty, path, payload, show }) {
  let running = false;
  let sayingEmpty = false; // the error box holds `empty`, which text in the box makes untrue
  submitOnModEnter(input);
  input.addEventListener('input', () => {
    if (sayingEmpty && input.value.trim()) {
      clearError(errorBox);
      sayingEmpty = false;
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (running || refusedWhileLocked()) return;
    clearError(errorBox);
    sayingEmpty = !input.value.trim();
    if (sayingEmpty) {
      result.hidden = true; // an earlier answer would read as the answer to this text
      renderError(errorBox, empty);
      input.focus();
      return;
    }
    running = true;
    const sentOverLimit = overInputLimit(charCount(input.value));
    const done = setBusy(form);
    result.setAttribute('aria-busy', 'true');
    try {
      const { data } = await callJson(path, payload(input.value));
      show(data && typeof data === 'object' ? data : {});
      result.hidden = false;
    } catch (err) {
      result.hidden = true;
      renderError(errorBox, describeError(err, { overLimit: sentOverLimit }));
    } finally {
      result.removeAttribute('aria-busy');
      running = false;
      done();
      syncToolButtons(); // the tools may have been locked meanwhile (the sign-in ran out)
    }
  });
}

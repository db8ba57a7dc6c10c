// Summarize: text in, bullet points out.

import { callJson, describeError } from './api.js';
import {
  attachCounter, clearError, copyWithFeedback, el, maxChars, renderError, setBusy, submitOnModEnter,
} from './ui.js';

export function formatUsage(data) {
  const parts = [];
  if (typeof data.model === 'string' && data.model) parts.push(data.model);
  const usage = data.usage;
  if (usage && Number.isFinite(usage.input_tokens) && Number.isFinite(usage.output_tokens)) {
    parts.push(`${usage.input_tokens.toLocaleString()} tokens in, ${usage.output_tokens.toLocaleString()} out`);
  }
  return parts.join(' · ');
}

export function setupSummarize() {
  const form = document.getElementById('summarize-form');
  const text = document.getElementById('summarize-text');
  const bullets = document.getElementById('summarize-bullets');
  const errorBox = document.getElementById('summarize-error');
  const result = document.getElementById('summarize-result');
  const list = document.getElementById('summarize-result-list');
  const meta = document.getElementById('summarize-result-meta');
  const copy = result.querySelector('.copy');
  let running = false;

  attachCounter(text, document.getElementById('summarize-count'));
  submitOnModEnter(text);

  copy.addEventListener('click', () => {
    const lines = [...list.children].map((li) => `- ${li.textContent}`);
    copyWithFeedback(copy, lines.join('\n'));
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (running) return;
    clearError(errorBox);
    if (!text.value.trim()) {
      renderError(errorBox, { title: 'Nothing to summarize yet', hint: 'Paste or type some text first.' });
      text.focus();
      return;
    }
    running = true;
    const done = setBusy(form);
    result.setAttribute('aria-busy', 'true');
    try {
      const { data } = await callJson('/api/summarize', {
        text: text.value,
        max_bullets: Number(bullets.value),
      });
      const items = Array.isArray(data.bullets) ? data.bullets : [];
      list.replaceChildren(...items.map((item) => el('li', { text: String(item) })));
      meta.textContent = formatUsage(data);
      result.hidden = false;
    } catch (err) {
      renderError(errorBox, describeError(err, { limit: maxChars() }));
    } finally {
      result.removeAttribute('aria-busy');
      running = false;
      done();
    }
  });
}

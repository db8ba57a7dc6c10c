// Summarize: text in, bullet points out (each may use inline Markdown).

import { onConfig } from './config.js';
import { formatUsage, handleJsonForm } from './form.js';
import { renderInlineMarkdown } from './markdown.js';
import { attachCounter, copyWithFeedback, el } from './ui.js';

/** The choices 1..max with the server's default chosen, or the person's choice if they made one already. */
function offerBulletCounts(select, max, chosenByDefault) {
  const chosen = select.value;
  select.replaceChildren(...Array.from({ length: max }, (_, i) => el('option', { text: String(i + 1) })));
  select.value = chosen && Number(chosen) <= max ? chosen : String(chosenByDefault);
}

export function setupSummarize() {
  const form = document.getElementById('summarize-form');
  const text = document.getElementById('summarize-text');
  const bullets = document.getElementById('summarize-bullets');
  const bulletsField = bullets.closest('.inline-field');
  const result = document.getElementById('summarize-result');
  const list = document.getElementById('summarize-result-list');
  const copy = result.querySelector('.copy');
  let sources = []; // the bullets as the model wrote them, for the clipboard

  attachCounter(text, document.getElementById('summarize-count'));
  // Offered once the server has said what it allows; until then a request names no count and the server's
  // default applies.
  onConfig(({ maxBullets, defaultBullets }) => {
    if (maxBullets && defaultBullets) offerBulletCounts(bullets, maxBullets, defaultBullets);
    bulletsField.classList.toggle('is-waiting', !bullets.value);
  });
  copy.addEventListener('click', () => copyWithFeedback(copy, sources.map((item) => `- ${item}`).join('\n')));

  handleJsonForm({
    form,
    input: text,
    errorBox: document.getElementById('summarize-error'),
    result,
    empty: { title: 'Nothing to summarize yet.', hint: 'Paste or type some text first.' },
    path: '/api/summarize',
    payload: (value) => (bullets.value ? { text: value, max_bullets: Number(bullets.value) } : { text: value }),
    show(data) {
      sources = Array.isArray(data.bullets) ? data.bullets.map(String) : [];
      list.replaceChildren(...sources.map((item) => el('li', {}, renderInlineMarkdown(item))));
      document.getElementById('summarize-result-meta').textContent = formatUsage(data);
    },
  });
}

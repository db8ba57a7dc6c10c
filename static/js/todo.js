// TODO: a free-text request in, one structured TODO item out.

import { callJson, describeError } from './api.js';
import { formatUsage } from './summarize.js';
import {
  attachCounter, clearError, copyWithFeedback, el, maxChars, renderError, setBusy, submitOnModEnter,
} from './ui.js';

/** The browser's IANA time zone, so "next Friday" is resolved where the person is. */
export function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

/** "2025-11-28" -> "Fri, 28 Nov 2025" (plus "today" / "tomorrow" / "in n days" when close). */
function formatDue(value, timeZone) {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const due = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(due.getTime())) return value;
  // A date-only value: format it in UTC so no offset moves it to the day before.
  const label = due.toLocaleDateString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC',
  });
  const todayIso = new Intl.DateTimeFormat('en-CA', { timeZone: timeZone || undefined }).format(new Date());
  const days = Math.round((due - new Date(`${todayIso}T00:00:00Z`)) / 86400000);
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  return Math.abs(days) <= 14 ? `${label} (${relative.format(days, 'day')})` : label;
}

function priorityNode(value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 5) return document.createTextNode(String(value));
  // 1 is the highest priority (the prompt says so), so it fills the most dots.
  const dots = el('span', { className: 'priority-dots', attrs: { 'aria-hidden': 'true' } });
  for (let i = 1; i <= 5; i++) dots.append(el('span', { className: i <= 6 - n ? 'dot on' : 'dot' }));
  const label = { 1: '1 · highest', 5: '5 · lowest' }[n] || `${n} of 5`;
  return el('span', { className: `priority p${n}` }, dots, el('span', { text: label }));
}

export function setupTodo() {
  const form = document.getElementById('todo-form');
  const text = document.getElementById('todo-text');
  const errorBox = document.getElementById('todo-error');
  const result = document.getElementById('todo-result');
  const title = document.getElementById('todo-result-title');
  const due = document.getElementById('todo-result-due');
  const priority = document.getElementById('todo-result-priority');
  const raw = document.getElementById('todo-raw');
  const meta = document.getElementById('todo-result-meta');
  const copy = result.querySelector('.copy');
  const timeZone = browserTimeZone();
  let running = false;

  document.getElementById('todo-tz-name').textContent = timeZone || 'unknown (the server will assume UTC)';
  attachCounter(text, document.getElementById('todo-count'));
  submitOnModEnter(text);
  copy.addEventListener('click', () => copyWithFeedback(copy, raw.textContent));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (running) return;
    clearError(errorBox);
    if (!text.value.trim()) {
      renderError(errorBox, { title: 'Nothing to turn into a TODO yet', hint: 'Describe the task first.' });
      text.focus();
      return;
    }
    running = true;
    const done = setBusy(form);
    result.setAttribute('aria-busy', 'true');
    try {
      const payload = { text: text.value };
      if (timeZone) payload.timezone = timeZone;
      const { data } = await callJson('/api/todo', payload);
      const todo = data && typeof data.todo === 'object' && data.todo ? data.todo : {};
      title.textContent = String(todo.title ?? '');
      const dueLabel = formatDue(todo.due_date, timeZone);
      due.textContent = dueLabel || 'No date';
      due.classList.toggle('muted', !dueLabel);
      priority.replaceChildren(priorityNode(todo.priority));
      raw.textContent = JSON.stringify(todo, null, 2);
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

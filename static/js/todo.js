// TODO: a free-text request in, one structured TODO item out.

import { onConfig } from './config.js';
import { formatUsage, handleJsonForm } from './form.js';
import { PAGE_LOCALE } from './text.js';
import { attachCounter, copyWithFeedback, el } from './ui.js';

// What Chromium reports when it cannot tell the system's zone: not a zone the server knows.
const UNKNOWN_TIME_ZONE = 'Etc/Unknown';

/** The browser's IANA time zone, so "next Friday" is resolved where the person is. */
export function browserTimeZone() {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return zone && zone !== UNKNOWN_TIME_ZONE ? zone : null;
  } catch {
    return null;
  }
}

/** "2025-11-28" -> "Fri, Nov 28, 2025" (plus "today" / "tomorrow" / "in n days" when close). */
function formatDue(value, timeZone) {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const due = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(due.getTime())) return value;
  // A date-only value: format it in UTC so no offset moves it to the day before.
  const label = due.toLocaleDateString(PAGE_LOCALE, {
    weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC',
  });
  const todayIso = new Intl.DateTimeFormat('en-CA', { timeZone: timeZone || undefined }).format(new Date());
  const days = Math.round((due - new Date(`${todayIso}T00:00:00Z`)) / 86400000);
  const relative = new Intl.RelativeTimeFormat(PAGE_LOCALE, { numeric: 'auto' });
  return Math.abs(days) <= 14 ? `${label} (${relative.format(days, 'day')})` : label;
}

/** The priority's number and name beside a row of dots, one per step of the server's scale (`priorities`,
 * highest first), filled more the higher it is; the number alone when the scale does not name it. */
function priorityNode(value, priorities) {
  const step = priorities.findIndex((priority) => priority.value === value);
  if (step < 0) return document.createTextNode(String(value));
  const dots = el('span', { className: 'priority-dots', attrs: { 'aria-hidden': 'true' } });
  for (let i = 0; i < priorities.length; i++) {
    dots.append(el('span', { className: i < priorities.length - step ? 'dot on' : 'dot' }));
  }
  return el('span', { className: 'priority' }, dots, el('span', { text: `${value} · ${priorities[step].name}` }));
}

export function setupTodo() {
  const text = document.getElementById('todo-text');
  const result = document.getElementById('todo-result');
  const due = document.getElementById('todo-result-due');
  const raw = document.getElementById('todo-raw');
  const copy = result.querySelector('.copy');
  const timeZone = browserTimeZone();
  let priorities = [];
  // The zone the server works dates out in: the browser's, or where it cannot tell, the server's default.
  let datesZone = timeZone;
  const zoneLine = document.getElementById('todo-tz');
  onConfig((config) => {
    priorities = config.priorities;
    datesZone = timeZone || config.defaultTimeZone;
    if (timeZone) zoneLine.textContent = `Dates are worked out in your time zone: ${timeZone}.`;
    else if (datesZone) zoneLine.textContent = `Dates are worked out in ${datesZone}: your browser does not say its time zone.`;
    else zoneLine.textContent = 'Your browser does not say its time zone: dates are worked out in the server\'s.';
  });
  attachCounter(text, document.getElementById('todo-count'));
  copy.addEventListener('click', () => copyWithFeedback(copy, raw.textContent));

  handleJsonForm({
    form: document.getElementById('todo-form'),
    input: text,
    errorBox: document.getElementById('todo-error'),
    result,
    empty: { title: 'Nothing to turn into a TODO yet.', hint: 'Describe the task first.' },
    path: '/api/todo',
    payload: (value) => (timeZone ? { text: value, timezone: timeZone } : { text: value }),
    show(data) {
      const todo = typeof data.todo === 'object' && data.todo ? data.todo : {};
      document.getElementById('todo-result-title').textContent = String(todo.title ?? '');
      const dueLabel = formatDue(todo.due_date, datesZone);
      due.textContent = dueLabel || 'No date';
      due.classList.toggle('muted', !dueLabel);
      document.getElementById('todo-result-priority').replaceChildren(priorityNode(todo.priority, priorities));
      raw.textContent = JSON.stringify(todo, null, 2);
      document.getElementById('todo-result-meta').textContent = formatUsage(data);
    },
  });
}

// Entry point: wires the tabs, the three views, the demo banner, the tokens-left line and the example
// texts, then asks the server for its limits and how to sign in (the views work before they arrive, and
// without them).

import { setupAccount } from './account.js';
import { DEMO_EVENT, probeDemoMode } from './api.js';
import { setupBudget } from './budget.js';
import { setupChat } from './chat.js';
import { loadConfig } from './config.js';
import { setupSummarize } from './summarize.js';
import { setupTabs } from './tabs.js';
import { setupTodo } from './todo.js';
import { isMac, keepWidthWhenBusy, setValue } from './ui.js';

const EXAMPLES = {
  'summarize-text':
    'The city council met on Tuesday to discuss the new cycling network. After two hours of debate, ' +
    'members agreed to fund the first three routes this year, connecting the train station, the university ' +
    'and the old harbour. Shop owners on Market Street worried about losing parking; the council promised ' +
    'a loading zone every 100 metres and a review after six months. Construction starts in March and should ' +
    'finish before the summer holidays. Residents can comment on the detailed plans online until the end of the month.',
  'todo-text': 'Remind me to send the quarterly report to Dana by next Friday. It is fairly urgent.',
};

function setupExamples() {
  for (const button of document.querySelectorAll('[data-example]')) {
    button.addEventListener('click', () => {
      const target = document.getElementById(button.dataset.example);
      setValue(target, EXAMPLES[button.dataset.example] || '');
      target.focus();
    });
  }
}

function setupDemoBanner() {
  const banner = document.getElementById('demo-banner');
  document.addEventListener(DEMO_EVENT, () => { banner.hidden = false; });
  probeDemoMode();
}

function start() {
  if (isMac) for (const kbd of document.querySelectorAll('kbd[data-mod]')) kbd.textContent = '⌘';
  setupDemoBanner();
  setupBudget();
  setupSummarize();
  setupTodo();
  setupChat();
  setupExamples();
  for (const button of document.querySelectorAll('button[data-busy-label]')) keepWidthWhenBusy(button);
  setupTabs(document.querySelector('[role="tablist"]'));
  document.documentElement.classList.add('js-ready');
  loadConfig().then((config) => setupAccount(config.auth));
}

start();

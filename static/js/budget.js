// What is left of the person's daily token budget, shown quietly next to the tools. The server sends it
// on every successful answer and every budget refusal (x-tokens-remaining; a stream's `done` event carries
// the settled figure), api.js reports it, and this line shows the latest. Nothing is shown while no answer
// has carried it (no budget applies, or nothing was asked yet). The tab keeps the latest figure, so a reload
// shows it again, for the UTC day it was sent in (budgets reset at UTC midnight) and while the person stays
// signed in.

import { SIGNED_OUT_EVENT } from './account.js';
import { TOKENS_EVENT } from './api.js';

const KEPT_KEY = 'page.tokensLeft';

// What a stopped answer costs, said where it is stopped: the tokens-left line moves only with the next answer.
export const STOPPED_KEEPS_RESERVATION =
  'A stopped answer counts its whole allowance against today\'s tokens: OpenAI reports usage only when an answer ends.';

let budgeted = false;

/** Whether an answer has said what is left of a daily budget (none applies, or nothing was asked yet). */
export function budgetApplies() {
  return budgeted;
}

export function describeTokensLeft(remaining) {
  if (remaining === 0) return 'No tokens left today';
  return `${remaining.toLocaleString()} ${remaining === 1 ? 'token' : 'tokens'} left today`;
}

function utcDay(now) {
  return new Date(now).toISOString().slice(0, 10);
}

/** The figure this tab kept, if it was sent on the UTC day of `now`; null otherwise. */
function keptFigure(now) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEPT_KEY));
    if (kept && kept.day === utcDay(now) && Number.isInteger(kept.remaining) && kept.remaining >= 0) {
      return kept.remaining;
    }
  } catch {
    // Not JSON, or storage disabled: the line waits for the next answer.
  }
  return null;
}

function keep(remaining, now) {
  try {
    sessionStorage.setItem(KEPT_KEY, JSON.stringify({ day: utcDay(now), remaining }));
  } catch {
    // Storage full or disabled: only a reload loses the figure.
  }
}

export function setupBudget() {
  const line = document.getElementById('tokens-left');
  const show = (remaining) => {
    budgeted = true;
    line.textContent = describeTokensLeft(remaining);
    line.hidden = false;
  };
  const kept = keptFigure(Date.now());
  if (kept !== null) show(kept);
  document.addEventListener(TOKENS_EVENT, (event) => {
    show(event.detail.remaining);
    keep(event.detail.remaining, Date.now());
  });
  // The figure is the signed-in person's: it goes with their sign-in, however that ends.
  document.addEventListener(SIGNED_OUT_EVENT, () => {
    line.hidden = true;
    try {
      sessionStorage.removeItem(KEPT_KEY);
    } catch {
      // Storage disabled: nothing was kept.
    }
  });
}

// What is left of the person's daily token budget, shown quietly next to the tools. The server sends it
// on every successful answer and every budget refusal (x-tokens-remaining; a stream's `done` event carries
// the settled figure), api.js reports it, and this line shows the latest. Nothing is shown while no answer
// has carried it (no budget applies, or nothing was asked yet).

import { TOKENS_EVENT } from './api.js';

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

export function setupBudget() {
  const line = document.getElementById('tokens-left');
  document.addEventListener(TOKENS_EVENT, (event) => {
    budgeted = true;
    line.textContent = describeTokensLeft(event.detail.remaining);
    line.hidden = false;
  });
}

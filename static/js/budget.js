// What is left of the person's daily token budget, shown quietly next to the tools. The server sends it
// on every successful answer, every budget refusal and a failed summary or TODO (x-tokens-remaining; a
// stream's `done` event carries the settled figure), api.js reports it, and this line shows the latest. Nothing is shown while no answer
// has carried it (no budget applies, or nothing was asked yet). The tab keeps the latest figure with whose it
// is, so a reload shows it again: for the UTC day it was sent in (budgets reset at UTC midnight), and where
// people sign in, only once the same person's sign-in is confirmed. It also tells the person's other open tabs
// (a BroadcastChannel, in memory only), so a tab whose request was refused while another's answer ran learns
// when that answer gave its tokens back; a tab that has no figure yet asks them for theirs, so a newly opened
// tab shows what is left before its first request rather than after it.

import { ACCOUNT_EVENT } from './account.js';
import { TOKENS_EVENT } from './api.js';
import { formatCount } from './text.js';

const KEPT_KEY = 'page.tokensLeft';
const CHANNEL_NAME = 'page.tokensLeft';

// What a stopped or cut-off answer costs, said where it ends: the tokens-left line moves only with the next answer.
export const UNFINISHED_KEEPS_RESERVATION =
  'An answer that did not finish counts its whole allowance against today\'s tokens: OpenAI reports usage only '
  + 'when an answer ends.';

let budgeted = false;

/** Whether an answer has said what is left of a daily budget (none applies, or nothing was asked yet). */
export function budgetApplies() {
  return budgeted;
}

export function describeTokensLeft(remaining) {
  if (remaining === 0) return 'No tokens left today';
  return `${formatCount(remaining)} ${remaining === 1 ? 'token' : 'tokens'} left today`;
}

function utcDay(now) {
  return new Date(now).toISOString().slice(0, 10);
}

/** The figure this tab kept, {who, remaining}, if it was sent on the UTC day of `now`; null otherwise. */
function keptFigure(now) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEPT_KEY));
    if (
      kept && kept.day === utcDay(now) && typeof kept.who === 'string'
      && Number.isInteger(kept.remaining) && kept.remaining >= 0
    ) {
      return { who: kept.who, remaining: kept.remaining };
    }
  } catch {
    // Not JSON, or storage disabled: the line waits for the next answer.
  }
  return null;
}

function keep(figure, now) {
  try {
    if (figure) sessionStorage.setItem(KEPT_KEY, JSON.stringify({ day: utcDay(now), ...figure }));
    else sessionStorage.removeItem(KEPT_KEY);
  } catch {
    // Storage full or disabled: only a reload loses the figure.
  }
}

export function setupBudget() {
  const line = document.getElementById('tokens-left');
  // '' where nobody signs in (local work, a public demo), else the signed-in person's e-mail, or null while
  // nobody is signed in. account.js says which, once it knows.
  let who = '';
  let figure = keptFigure(Date.now());

  const render = () => {
    line.hidden = !(figure && who !== null && figure.who === who);
    if (line.hidden) return;
    budgeted = true;
    line.textContent = describeTokensLeft(figure.remaining);
  };

  const otherTabs = 'BroadcastChannel' in window ? new BroadcastChannel(CHANNEL_NAME) : null;
  const show = (remaining) => {
    figure = { who, remaining };
    keep(figure, Date.now());
    render();
  };

  // `reply`: the figure sent to a tab that asked for one, which a tab that shows one already ignores.
  const tellOtherTabs = (remaining, reply = false) => {
    otherTabs?.postMessage({ who, day: utcDay(Date.now()), remaining, reply });
  };
  const askOtherTabs = () => {
    if (!figure && who !== null) otherTabs?.postMessage({ who, asking: true });
  };

  document.addEventListener(TOKENS_EVENT, (event) => {
    if (who === null) return; // an answer that ends after its sign-in did: nobody's figure now
    show(event.detail.remaining);
    tellOtherTabs(event.detail.remaining);
  });
  otherTabs?.addEventListener('message', ({ data }) => {
    if (who === null || !data || data.who !== who) return; // another tab may be someone else's sign-in
    if (data.asking === true) {
      const kept = keptFigure(Date.now());
      if (kept && kept.who === who) tellOtherTabs(kept.remaining, true);
      return;
    }
    // Only a figure for today; a reply only where none is shown, as the one shown may be fresher.
    const valid = Number.isInteger(data.remaining) && data.remaining >= 0;
    if (valid && data.day === utcDay(Date.now()) && !(data.reply === true && figure)) show(data.remaining);
  });
  document.addEventListener(ACCOUNT_EVENT, (event) => {
    who = event.detail.user ? event.detail.user.email : null;
    if (figure && figure.who !== who) {
      figure = null;
      keep(null, Date.now());
    }
    askOtherTabs();
    render();
  });
  // Where nobody signs in no account event comes, and `who` is '' from the start.
  askOtherTabs();
  render();
}

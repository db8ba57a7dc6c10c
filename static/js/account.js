// Sign-in on the page, for a deployment whose config.json asks for it (auth.js does the OAuth part):
// Sign in / Sign out and the signed-in person's e-mail in the header, the tools locked until signed in,
// the token on every API call, and an offer to sign in again when the server refuses a call. What the
// person wrote (the three text boxes, the open tool) is kept across the trip to the login page; the chat
// itself lives in sessionStorage already. An IAM-only deployment has no page API, so its tools are off.
// Local work and public demos ("none") show none of this.

import { lockTools, unlockTools } from './access.js';
import { setAuthorization, UNAUTHENTICATED_EVENT } from './api.js';
import { SIGN_IN_EXPIRED, SIGN_IN_REQUIRED, SignInFailed, SignInUnchecked, createAuth } from './auth.js';
import { setValue } from './ui.js';

/** Dispatched on the document when the person signs out: whatever the tab keeps of them goes. */
export const SIGNING_OUT_EVENT = 'llm:signing-out';
/** Dispatched whenever the page learns who is signed in, with detail.user ({email}, or null when nobody is):
 * after the check at load, at each renewal, when a sign-in ends (expired, revoked, refused by the server) and
 * on signing out. Not on deployments without sign-in. */
export const ACCOUNT_EVENT = 'llm:account';

// What the person wrote, only while they are away at the login page.
const DRAFTS_KEY = 'page.drafts';
const DRAFT_FIELDS = ['summarize-text', 'todo-text', 'chat-input'];

const IAM_ONLY = {
  title: 'The tools are off on this deployment.',
  hint: 'It has no page API: it admits only AWS SigV4-signed calls made directly to its function URLs.',
};
const KEEP_WRITING = 'You can write now: your text is kept while you sign in.';
const KEPT_WHILE_AWAY = 'Your chat and your text are kept while you sign in again.';
const LOGIN_UNREACHABLE = 'Sign-in could not be completed: the login service could not be reached.';
const TRY_AGAIN_SHORTLY = 'Your sign-in is kept: try again in a moment, or close this tab to end it.';

function currentView() {
  return document.querySelector('[role="tab"][aria-selected="true"]')?.dataset.view || '';
}

function keepDrafts() {
  const fields = {};
  for (const id of DRAFT_FIELDS) {
    const value = document.getElementById(id).value;
    if (value) fields[id] = value;
  }
  try {
    sessionStorage.setItem(DRAFTS_KEY, JSON.stringify({ view: currentView(), fields }));
  } catch {
    // Storage full or disabled: signing in still works, the text just does not come back.
  }
}

function restoreDrafts() {
  let drafts = null;
  try {
    // Kept until a sign-in succeeds: a person who comes back from the login page without signing in, and
    // reloads (as the login page may tell them to), still has the text.
    drafts = JSON.parse(sessionStorage.getItem(DRAFTS_KEY));
  } catch {
    return;
  }
  if (!drafts || typeof drafts !== 'object') return;
  const fields = drafts.fields && typeof drafts.fields === 'object' ? drafts.fields : {};
  for (const id of DRAFT_FIELDS) {
    const box = document.getElementById(id);
    if (typeof fields[id] === 'string' && !box.value) setValue(box, fields[id]);
  }
  const tab = [...document.querySelectorAll('[role="tab"]')].find((t) => t.dataset.view === drafts.view);
  if (tab && tab.getAttribute('aria-selected') !== 'true') tab.click();
}

function setupSignIn(config) {
  const auth = createAuth(config);
  const account = document.getElementById('account');
  const who = document.getElementById('account-user');
  const email = document.getElementById('account-email');
  const signInButton = document.getElementById('sign-in');
  const signOutButton = document.getElementById('sign-out');

  let signedIn = false;
  let lost = false; // the sign-in ended without the person signing out: say so

  async function signIn() {
    keepDrafts();
    try {
      await auth.signIn();
    } catch (err) {
      sessionStorage.removeItem(DRAFTS_KEY);
      lockTools({ title: err.message, hint: '', action: { label: 'Sign in', run: signIn } });
    }
  }

  function showHeader(user) {
    signedIn = user !== null;
    document.dispatchEvent(new CustomEvent(ACCOUNT_EVENT, { detail: { user } }));
    account.hidden = false;
    account.classList.toggle('is-signed-in', signedIn);
    who.hidden = !signedIn;
    signOutButton.hidden = !signedIn;
    signInButton.hidden = signedIn;
    email.textContent = signedIn ? user.email : '';
  }

  function show(user, problem = null) {
    showHeader(user);
    if (signedIn) {
      lost = false;
      sessionStorage.removeItem(DRAFTS_KEY); // back in their boxes at load (restoreDrafts)
      unlockTools();
      return;
    }
    const title = problem || (lost ? SIGN_IN_EXPIRED : SIGN_IN_REQUIRED);
    lockTools({ title, hint: problem || lost ? '' : KEEP_WRITING, action: { label: 'Sign in', run: signIn } });
  }

  signInButton.addEventListener('click', signIn);
  signOutButton.addEventListener('click', () => {
    document.dispatchEvent(new CustomEvent(SIGNING_OUT_EVENT));
    sessionStorage.removeItem(DRAFTS_KEY);
    signedIn = false;
    auth.signOut();
  });

  // Every renewal calls this too; it changes nothing the person sees, and keeps the chat as it is.
  auth.onChange((user) => {
    if (user === null && signedIn) lost = true;
    show(user);
  });

  // The server refused a call (or there was no valid sign-in to make it with): offer to sign in again.
  document.addEventListener(UNAUTHENTICATED_EVENT, (event) => {
    event.preventDefault(); // the notice above the tools says it (api.js)
    if (!signedIn) return; // already locked, with the offer to sign in
    // The header no longer says who is signed in: the server has just said nobody is.
    lost = true;
    showHeader(null);
    lockTools({
      title: event.detail.message || SIGN_IN_EXPIRED,
      hint: KEPT_WHILE_AWAY,
      action: { label: 'Sign in again', run: signIn },
    });
  });

  function check() {
    lockTools({ title: 'Checking your sign-in…' });
    auth.start().then(
      (user) => show(user),
      (err) => {
        if (err instanceof SignInUnchecked) {
          // Who is signed in is not known yet: the header (and what follows it, such as the tokens-left
          // figure) waits for the answer rather than say nobody is.
          lockTools({ title: err.message, hint: TRY_AGAIN_SHORTLY, action: { label: 'Try again', run: check } });
        } else {
          show(null, err instanceof SignInFailed ? err.message : LOGIN_UNREACHABLE);
        }
      },
    );
  }

  setAuthorization(() => auth.headers());
  restoreDrafts();
  check();
}

/** Wire the page to the `auth` part of config.json: {mode: "cognito" | "iam" | "none", ...}. */
export function setupAccount(config) {
  if (!config) return;
  if (config.mode === 'iam') lockTools(IAM_ONLY);
  else if (config.mode === 'cognito') setupSignIn(config);
}

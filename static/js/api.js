// Talking to /api/*: JSON bodies signed with their SHA-256, the sign-in's token header on every call,
// the error envelope turned into ApiError, and what an answer says in passing (the offline-demo header,
// the tokens left today, a refused sign-in) reported as document events to whoever listens. The
// server's error messages are the ones shown (functions/llm_core/errors.py holds the table); the page
// adds only what it alone can say.

import { overInputLimit } from './config.js';
import { sha256Hex } from './hash.js';
import { PAGE_LOCALE } from './text.js';

export const DEMO_EVENT = 'llm:demo-mode';
/** detail: {remaining}, the tokens left of the person's day (docs/budgets.md). */
export const TOKENS_EVENT = 'llm:tokens-remaining';
/** detail: {message}; the call needed a sign-in it did not have (none, expired, or refused). */
export const UNAUTHENTICATED_EVENT = 'llm:unauthenticated';

const REMAINING_HEADER = 'x-tokens-remaining';

// The headers that prove who is calling; account.js sets it once the sign-in is known. It rejects when
// there is no valid sign-in: then no request leaves at all.
let authorization = async () => ({});

export function setAuthorization(provider) {
  authorization = provider;
}

/** A failed call, built from the server's {"error": {"type","message","request_id"}} envelope. */
export class ApiError extends Error {
  constructor({ status, type, message, requestId = '', retryAfterSeconds = null }) {
    super(message || type || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.serverMessage = message;
    this.requestId = requestId;
    this.retryAfterSeconds = retryAfterSeconds;
    // A 401 whose words the page already shows above the tools, with the offer to sign in (account.js).
    this.shownAbove = false;
  }
}

/** Retry-After is either delay-seconds or an HTTP date; returns whole seconds from now, or null. */
function parseRetryAfter(value, now = Date.now()) {
  if (!value) return null;
  const trimmed = value.trim();
  // Seconds, possibly fractional ("0.5"): a date parser would read those as a year.
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed));
  const when = Date.parse(trimmed);
  if (Number.isNaN(when)) return null;
  return Math.max(0, Math.ceil((when - now) / 1000));
}

function noteDemoMode(response) {
  if (response.headers.get('x-llm-demo') === 'fake-model') {
    document.dispatchEvent(new CustomEvent(DEMO_EVENT));
  }
}

/** Tell the page what is left of today's budget; anything but a whole number of tokens is ignored. */
export function reportTokensRemaining(value) {
  const remaining = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (!Number.isSafeInteger(remaining) || remaining < 0) return;
  document.dispatchEvent(new CustomEvent(TOKENS_EVENT, { detail: { remaining } }));
}

/** Tell the page nobody is signed in; true when a listener showed it (and called preventDefault). */
function unauthenticated(message) {
  const event = new CustomEvent(UNAUTHENTICATED_EVENT, { detail: { message }, cancelable: true });
  return !document.dispatchEvent(event);
}

async function errorFromResponse(response) {
  let type = '';
  let message = '';
  let requestId = response.headers.get('x-request-id') || '';
  try {
    const payload = await response.json();
    const error = payload && typeof payload === 'object' ? payload.error : null;
    if (error && typeof error === 'object') {
      type = typeof error.type === 'string' ? error.type : '';
      message = typeof error.message === 'string' ? error.message : '';
      if (typeof error.request_id === 'string' && error.request_id) requestId = error.request_id;
    }
  } catch {
    // Not our envelope (a proxy's HTML page, say): the status alone has to do.
  }
  return new ApiError({
    status: response.status,
    type,
    message,
    requestId,
    retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after')),
  });
}

/**
 * POST a JSON payload to a same-origin path. Resolves with the Response when it is 2xx; rejects with
 * ApiError for HTTP errors and network failures, and with the AbortError itself when `signal` aborts.
 */
export async function postJson(path, payload, { signal, accept = 'application/json' } = {}) {
  // Hash and send the very same bytes: re-serialising would risk a digest that no longer matches.
  const body = new TextEncoder().encode(JSON.stringify(payload));
  const digest = await sha256Hex(body);
  const headers = { 'content-type': 'application/json', accept };
  if (digest) headers['x-amz-content-sha256'] = digest;
  try {
    Object.assign(headers, await authorization());
  } catch (err) {
    // Not signed in, or the sign-in ran out and could not be renewed: the server would only refuse it.
    const message = (err && err.message) || '';
    const error = new ApiError({ status: 401, type: 'unauthenticated', message });
    error.shownAbove = unauthenticated(message);
    throw error;
  }
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers,
      body,
      signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError({ status: 0, type: 'network_error', message: '' });
  }
  noteDemoMode(response);
  // On an answer, a budget refusal (where a spent budget reports 0, in step with its message) and a failed
  // summary or TODO (what is left once its reservation was settled).
  reportTokensRemaining(response.headers.get(REMAINING_HEADER));
  if (!response.ok) {
    const error = await errorFromResponse(response);
    if (error.type === 'unauthenticated') error.shownAbove = unauthenticated(error.serverMessage);
    throw error;
  }
  return response;
}

/** postJson, then the JSON body of the answer. */
export async function callJson(path, payload, options) {
  const response = await postJson(path, payload, options);
  try {
    return { data: await response.json(), requestId: response.headers.get('x-request-id') || '' };
  } catch {
    throw new ApiError({
      status: response.status,
      type: 'bad_response',
      message: '',
      requestId: response.headers.get('x-request-id') || '',
    });
  }
}

/** The page's own address answered with the demo header? Then show the banner before any call. */
export async function probeDemoMode() {
  try {
    const response = await fetch(location.pathname, { method: 'HEAD', cache: 'no-store' });
    noteDemoMode(response);
  } catch {
    // Only a hint; the first API answer tells us too.
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// From this long a wait on, the page says it in minutes and at what time of the person's own clock.
const LONG_WAIT_SECONDS = 90;

// Whether the person's clock has 12 hours, from the browser's language; the rest is written in PAGE_LOCALE.
const HOUR12 = new Intl.DateTimeFormat(undefined, { hour: 'numeric' }).resolvedOptions().hour12 === true;
// A time of day as the person's clock shows it: "05:30" on a 24-hour clock, "5:30 AM" on a 12-hour one (where
// '2-digit' would write "05:30 AM").
const CLOCK = Object.freeze({ hour: HOUR12 ? 'numeric' : '2-digit', minute: '2-digit', hour12: HOUR12 });

function describeWait(seconds) {
  if (seconds == null) return 'Wait a little, then try again.';
  if (seconds <= 1) return 'Try again in a second.';
  if (seconds < LONG_WAIT_SECONDS) return `Try again in ${plural(seconds, 'second')}.`;
  const at = new Date(Date.now() + seconds * 1000);
  const time = at.toLocaleTimeString(PAGE_LOCALE, CLOCK);
  return `Try again in about ${plural(Math.round(seconds / 60), 'minute')} (after ${time}).`;
}

/** Whether a reset `seconds` from now (midnight UTC) is midnight on the person's own clock too. */
function resetsAtLocalMidnight(seconds, now = new Date()) {
  return new Date(now.getTime() + seconds * 1000).getTimezoneOffset() === 0;
}

/** "01:00 tomorrow": when a budget that resets `seconds` from now resets, in the person's own time. */
export function describeResetTime(seconds, now = new Date()) {
  const at = new Date(now.getTime() + seconds * 1000);
  const time = at.toLocaleTimeString(PAGE_LOCALE, CLOCK);
  const dayOf = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  const days = Math.round((dayOf(at) - dayOf(now)) / 86400000);
  if (days === 0) return `${time} today`;
  if (days === 1) return `${time} tomorrow`;
  return at.toLocaleString(PAGE_LOCALE, { weekday: 'short', day: 'numeric', month: 'short', ...CLOCK });
}

/** The error of an in-stream `error` event, {"error": {"type","message","request_id"}}, as an ApiError. */
export function errorFromEvent(payload) {
  const error = (payload && typeof payload.error === 'object' && payload.error) || {};
  return new ApiError({
    status: 200, // the stream had started: the HTTP status no longer tells anything
    type: typeof error.type === 'string' ? error.type : '',
    message: typeof error.message === 'string' ? error.message : '',
    requestId: typeof error.request_id === 'string' ? error.request_id : '',
  });
}

/** What would make a chat request fit: a new chat drops the earlier turns but keeps the instructions. */
function shorterChat({ earlier = 0, instructions = 0, message = 0 }) {
  // Whether `chars` would be within the published limit; while the limit is unknown, any way may help.
  const fits = (chars) => overInputLimit(chars) !== true;
  const ways = [
    earlier && fits(instructions + message) && (instructions ? 'start a new chat (it keeps the instructions)' : 'start a new chat'),
    instructions && fits(earlier + message) && 'shorten the instructions',
    fits(earlier + instructions + 1) && 'send a shorter message',
  ].filter(Boolean);
  // No one way is enough: each part is over the limit on its own, so every part must go or shrink.
  const said = ways.length
    ? (ways.length === 1 ? ways[0] : `${ways.slice(0, -1).join(', ')} or ${ways.at(-1)}`)
    : [earlier && 'start a new chat', instructions && 'shorten the instructions', 'send a shorter message']
      .filter(Boolean).join(' and ');
  return `${said[0].toUpperCase()}${said.slice(1)}.`;
}

/**
 * What to tell a person about an error: {title, hint, requestId}. The title is the server's own message;
 * the hint is what only the page knows: when to retry, and what to do in this view. `overLimit`: whether
 * what was sent was over the published input limit (null while that is unknown). A 413 gets the advice to
 * shorten (`context` "chat": or to start a new chat) unless it was not: one for any other reason, such as
 * a daily budget smaller than any request, carries its own advice. For the chat, `sent` ({earlier,
 * instructions, message}: the characters of each part of the request) lets the advice name only what would
 * bring it within the limit.
 */
export function describeError(err, { context = 'text', overLimit = null, sent = {} } = {}) {
  if (!(err instanceof ApiError)) {
    return { title: 'Something went wrong.', hint: String((err && err.message) || err), requestId: '' };
  }
  const base = { title: err.serverMessage || `The server answered HTTP ${err.status}.`, hint: '', requestId: err.requestId };
  switch (err.type) {
    case 'network_error':
      return { ...base, title: 'Could not reach the server.', hint: 'Check your connection, or that the server is running, and try again.' };
    case 'bad_response':
      return { ...base, title: 'The server sent an answer the page could not read.', hint: 'Try again.' };
    case 'rate_limited':
      // The server's message names the wait in seconds; the page adds only the time of day of a long one.
      if (err.retryAfterSeconds == null || err.retryAfterSeconds < LONG_WAIT_SECONDS) return base;
      return { ...base, hint: describeWait(err.retryAfterSeconds) };
    case 'quota_exceeded':
      // The server names the budget and its reset in UTC; the page alone knows the person's clock.
      if (err.retryAfterSeconds == null) return { ...base, hint: describeWait(null) };
      // Where the person's clock is UTC's, the server's message has said it all.
      if (resetsAtLocalMidnight(err.retryAfterSeconds)) return base;
      return { ...base, hint: `The reset is at ${describeResetTime(err.retryAfterSeconds)} where you are.` };
    case 'too_large':
      if (overLimit === false) return base;
      return { ...base, hint: context === 'chat' ? shorterChat(sent) : 'Shorten the text and try again.' };
    case 'unauthenticated':
      // Said once: the notice above has the server's words and the button to sign in.
      if (err.shownAbove) return { ...base, title: 'Not answered: you are no longer signed in.', hint: 'Sign in again above, then try again.' };
      return base;
    default:
      return base;
  }
}

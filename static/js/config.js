// What the server tells the page at start, from /config.json (served by the local emulator, written by
// the publish step from the stack's outputs): its input limits, the defaults it offers (the bullet count, and
// the time zone a TODO falls back to), the TODO priority scale and how to sign in. The page hard-codes none
// of them. Until the document arrives, or if it never does, every limit and default is null (the counters
// show no limit and the server's own 413 still explains what is too long; no bullet count is offered, so the
// server's default applies), the priority scale is empty (a priority shows as its number) and `auth` is null
// (no sign-in is offered; a server that needs one answers 401, which says so).

const UNKNOWN = Object.freeze({
  maxInputChars: null, maxBullets: null, defaultBullets: null, defaultTimeZone: null, priorities: Object.freeze([]),
  auth: null,
});

let current = UNKNOWN;
const listeners = new Set();

function positiveInteger(value) {
  return Number.isInteger(value) && value > 0 ? value : null;
}

function objectOrEmpty(value) {
  return (value && typeof value === 'object' && !Array.isArray(value) && value) || {};
}

/** The priority scale, highest first, as [{value, name}]; empty unless every entry is whole. */
function parsePriorities(entries) {
  if (!Array.isArray(entries)) return Object.freeze([]);
  const whole = entries.every((entry) => Number.isInteger(entry?.value) && typeof entry.name === 'string' && entry.name);
  return Object.freeze(whole ? entries.map(({ value, name }) => Object.freeze({ value, name })) : []);
}

/** The config document as the page uses it; anything missing or malformed stays unknown (null, or empty). */
function parseConfig(document) {
  const limits = objectOrEmpty(document?.limits);
  const defaults = objectOrEmpty(document?.defaults);
  const auth = document && typeof document.auth === 'object' && document.auth;
  const maxBullets = positiveInteger(limits.max_bullets);
  const defaultBullets = positiveInteger(defaults.max_bullets);
  return Object.freeze({
    maxInputChars: positiveInteger(limits.max_input_chars),
    maxBullets,
    // A default the limit does not allow is no default.
    defaultBullets: maxBullets && defaultBullets <= maxBullets ? defaultBullets : null,
    defaultTimeZone: typeof defaults.timezone === 'string' && defaults.timezone ? defaults.timezone : null,
    priorities: parsePriorities(document?.priorities),
    // auth.js reads the rest ({mode, domain, client_id, ...}); an absent or odd one means no sign-in.
    auth: Object.freeze(auth && typeof auth.mode === 'string' ? { ...auth } : { mode: 'none' }),
  });
}

/** Whether `chars` characters are over the published input limit: null while the limit is unknown. */
export function overInputLimit(chars) {
  return current.maxInputChars === null ? null : chars > current.maxInputChars;
}

/** Call `listener(config)` now, and again once the server's config has arrived. */
export function onConfig(listener) {
  listeners.add(listener);
  listener(current);
}

/** Fetch /config.json once; resolves with the config (unknown limits when the fetch fails). */
export async function loadConfig(url = '/config.json') {
  try {
    const response = await fetch(url, { cache: 'no-cache', credentials: 'same-origin' });
    if (!response.ok) return current;
    current = parseConfig(await response.json());
  } catch {
    return current; // offline, or not JSON: the page works on, without limits of its own
  }
  for (const listener of listeners) listener(current);
  return current;
}

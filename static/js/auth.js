// Sign-in for the page: OAuth 2.0 authorization code with PKCE (S256) against the login domain that
// config.json names (Cognito managed login on AWS, the local stand-in in `make dev`), renewal with the
// refresh token before the access token expires, and sign-out.
//
// What is kept where, and why:
//  - access and ID tokens: in this module's memory only. Nothing else on the page can read them except
//    through headers() and user(), and they are gone when the tab is.
//  - the refresh token: this tab's sessionStorage, so a reload does not sign the person out. It is
//    never shared with another tab, is dropped when the tab closes, is revoked at sign-out, and expires
//    with the sign-in (12 hours on AWS).
//  - the PKCE verifier and the state: sessionStorage, only between leaving for the login page and
//    coming back (the page is unloaded in between), then removed.
//  - nothing in localStorage: it outlives the tab and is shared by every tab of the origin.

const PENDING_KEY = 'auth.pending';
const REFRESH_KEY = 'auth.refresh';
// Renew this long before expiry (or at half-life for shorter tokens), so no call leaves with a token
// that expires on the way.
const RENEW_MARGIN_MS = 5 * 60 * 1000;
// A token this close to expiry is not sent even when renewal failed.
const EXPIRY_SLACK_MS = 10 * 1000;
const REVOKE_TIMEOUT_MS = 3000;
const RETURN_PARAMS = ['code', 'state', 'error', 'error_description'];

export const SIGN_IN_REQUIRED = 'Sign in to use the tools.';
export const SIGN_IN_EXPIRED = 'Your sign-in has expired: sign in again.';

/** No valid sign-in: the page offers to sign in (again). */
export class SignInRequired extends Error {
  constructor(message = SIGN_IN_REQUIRED) {
    super(message);
    this.name = 'SignInRequired';
  }
}

/** This tab's sign-in could not be checked at load: the login service failed or could not be reached. The
 * sign-in may well be valid, so its refresh token is kept for another try. */
export class SignInUnchecked extends Error {
  constructor() {
    super('Your sign-in could not be checked: the login service failed or could not be reached.');
    this.name = 'SignInUnchecked';
  }
}

/** The login page's answer could not be used (refused, forged, or the exchange failed). */
export class SignInFailed extends Error {
  constructor(message) {
    super(message);
    this.name = 'SignInFailed';
  }
}

function base64Url(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(byteCount) {
  return base64Url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

async function pkceChallenge(verifier) {
  if (!crypto.subtle) {
    throw new SignInFailed('Sign-in needs a secure page (https, or http on localhost).');
  }
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/** The claims of a JWT, unverified: for display only (the functions verify what they are sent). */
function claimsOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}

function readJson(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key));
  } catch {
    return null;
  }
}

/**
 * Sign-in for a deployment in mode "cognito", as the ``auth`` part of config.json describes it: {domain,
 * client_id, redirect_uri, logout_uri, scopes, header}. Call start() once when the page loads.
 */
export function createAuth(config) {
  const domain = String(config.domain).replace(/\/+$/, '');
  const { header } = config;
  const scopes = config.scopes.join(' ');
  const listeners = new Set();
  let session = null; // {accessToken, idToken, expiresAt, renewAt}
  let renewal = null; // the refresh in flight, shared by every caller
  let timer = null;

  const user = () => {
    if (!session) return null;
    const claims = claimsOf(session.idToken);
    return { email: typeof claims.email === 'string' ? claims.email : '' };
  };

  const notify = () => {
    const current = user();
    for (const listener of listeners) listener(current);
  };

  const forget = () => {
    session = null;
    clearTimeout(timer);
    timer = null;
    sessionStorage.removeItem(REFRESH_KEY);
    sessionStorage.removeItem(PENDING_KEY);
  };

  async function tokenRequest(fields) {
    const response = await fetch(`${domain}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: config.client_id, ...fields }),
      credentials: 'omit',
      cache: 'no-store',
    });
    let payload = {};
    try {
      payload = await response.json();
    } catch {
      // An answer that is not JSON is handled as the failure it is below.
    }
    return { ok: response.ok && typeof payload.access_token === 'string', status: response.status, payload };
  }

  function keep(tokens) {
    const now = Date.now();
    const lifetime = Math.max(Number(tokens.expires_in) || 0, 0) * 1000;
    session = {
      accessToken: tokens.access_token,
      idToken: tokens.id_token || (session ? session.idToken : ''),
      expiresAt: now + lifetime,
      renewAt: now + lifetime - Math.min(RENEW_MARGIN_MS, lifetime / 2),
    };
    // Present only at sign-in, or at renewal when the client rotates refresh tokens.
    if (tokens.refresh_token) sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    clearTimeout(timer);
    timer = setTimeout(() => renew().catch(() => {}), Math.max(session.renewAt - now, 0));
    notify();
  }

  function renew() {
    if (renewal) return renewal;
    renewal = (async () => {
      const refreshToken = sessionStorage.getItem(REFRESH_KEY);
      if (!refreshToken) throw new SignInRequired();
      const answer = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken });
      if (answer.ok) {
        keep(answer.payload);
        return;
      }
      if (answer.status === 400 || answer.status === 401) {
        // The sign-in is over (expired, revoked): the tools lock until the person signs in again.
        forget();
        notify();
        throw new SignInRequired(SIGN_IN_EXPIRED);
      }
      throw new Error(`The login service answered ${answer.status}; try again shortly.`);
    })().finally(() => {
      renewal = null;
    });
    return renewal;
  }

  async function finishSignIn(params) {
    const pending = readJson(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY);
    const url = new URL(window.location.href);
    for (const name of RETURN_PARAMS) url.searchParams.delete(name);
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    // The state first, for errors too: anyone can link to the page with ?error=...&error_description=<any
    // text>, and only an answer to this tab's own sign-in may put the login page's words on it.
    if (!pending || pending.state !== params.get('state')) {
      throw new SignInFailed('The sign-in answer does not belong to this tab: sign in again.');
    }
    if (params.get('error')) {
      throw new SignInFailed(`Sign-in failed: ${params.get('error_description') || params.get('error')}.`);
    }
    const answer = await tokenRequest({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: config.redirect_uri,
      code_verifier: pending.verifier,
    });
    if (!answer.ok) throw new SignInFailed('Sign-in could not be completed: sign in again.');
    keep(answer.payload);
  }

  return {
    /** Finish a sign-in the login page sent back, or resume this tab's; resolves to the user or null.
     * Rejects with SignInFailed (the login page's answer was no good) or SignInUnchecked (try again). */
    async start() {
      const params = new URLSearchParams(window.location.search);
      if (params.has('code') || params.has('error')) {
        await finishSignIn(params);
      } else if (sessionStorage.getItem(REFRESH_KEY)) {
        try {
          await renew();
        } catch (error) {
          // A sign-in that is over starts the page signed out; any other failure says nothing about it.
          if (!(error instanceof SignInRequired)) throw new SignInUnchecked();
        }
      }
      return user();
    },

    /** Leave for the login page; it comes back to redirect_uri, where start() finishes. */
    async signIn() {
      const verifier = randomString(48);
      const state = randomString(16);
      const challenge = await pkceChallenge(verifier);
      sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state }));
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: config.client_id,
        redirect_uri: config.redirect_uri,
        scope: scopes,
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      window.location.assign(`${domain}/oauth2/authorize?${query}`);
    },

    /** Forget the tokens, revoke the refresh token, and end the login page's session too. */
    async signOut() {
      const refreshToken = sessionStorage.getItem(REFRESH_KEY);
      forget();
      notify();
      if (refreshToken) {
        await fetch(`${domain}/oauth2/revoke`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: refreshToken, client_id: config.client_id }),
          credentials: 'omit',
          keepalive: true,
          signal: AbortSignal.timeout(REVOKE_TIMEOUT_MS),
        }).catch(() => {}); // the refresh token expires anyway; signing out must not wait on it
      }
      const query = new URLSearchParams({ client_id: config.client_id, logout_uri: config.logout_uri });
      window.location.assign(`${domain}/logout?${query}`);
    },

    /** The header every API call carries; renews first when the token is about to expire. */
    async headers() {
      if (!session) throw new SignInRequired();
      if (Date.now() >= session.renewAt) {
        try {
          await renew();
        } catch (error) {
          if (error instanceof SignInRequired) throw error;
          // The login service is unreachable: the current token serves while it lasts.
          if (Date.now() >= session.expiresAt - EXPIRY_SLACK_MS) throw new SignInRequired(SIGN_IN_EXPIRED);
        }
      }
      return { [header]: session.accessToken };
    },

    /** {email} of the signed-in person (from the ID token, for display), or null. */
    user,

    /** listener(user or null) on every sign-in, renewal and sign-out; returns the unsubscribe function. */
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

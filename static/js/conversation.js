// The chat's conversation as plain data, {system, messages: [{role, content, ending?}]}, so it can be
// stored, sent and tested without a page. `ending` marks an answer that did not finish on its own
// ('stopped' by the person, 'cut' by a failure mid-answer, or at the 'length' limit); it stays with the
// answer and is never sent. Nothing here changes a conversation in place: each step returns a
// new one.
//
// The rule it keeps: the history holds only turns that got an answer. A turn is what is sent (`sent`)
// and what to go back to when no answer text comes (`fallback`: refused, failed before streaming,
// stopped before the first token), so what the model is sent next time is exactly what the person
// sees answered.

import { charCount, showsSomething } from './text.js';

const ROLES = new Set(['user', 'assistant']);
// What each ending says under its answer, on the page and in the Markdown export.
export const ENDINGS = Object.freeze({
  stopped: 'Stopped: this answer is incomplete.',
  cut: 'The answer was cut off: it is incomplete.',
  length: 'This answer reached its length limit and was cut short.',
});

function isEnding(value) {
  return typeof value === 'string' && Object.hasOwn(ENDINGS, value);
}

export function emptyConversation(system = '') {
  return { system, messages: [] };
}

/** A conversation read back from storage, or null when it is not one (old format, hand-edited, ...). */
export function restoreConversation(value) {
  if (!value || typeof value !== 'object' || typeof value.system !== 'string' || !Array.isArray(value.messages)) {
    return null;
  }
  const wellFormed = value.messages.every(
    (m) => m && typeof m === 'object' && ROLES.has(m.role) && typeof m.content === 'string',
  );
  if (!wellFormed) return null;
  return {
    system: value.system,
    messages: value.messages.map(({ role, content, ending }) => ({
      role,
      content,
      ...(role === 'assistant' && isEnding(ending) ? { ending } : {}),
    })),
  };
}

export function withSystem(conversation, system) {
  return { ...conversation, system };
}

/** Blank text is no answer: the server refuses a blank message in the history. */
export function isAnswer(text) {
  return typeof text === 'string' && showsSomething(text);
}

/** The last user message and its answer, when the conversation ends with one (it always does, but empty). */
export function lastExchange(conversation) {
  const [user, assistant] = conversation.messages.slice(-2);
  if (user?.role === 'user' && assistant?.role === 'assistant') return { user, assistant };
  return null;
}

/** A new question after the history. */
export function askTurn(conversation, text) {
  return {
    text,
    sent: { ...conversation, messages: [...conversation.messages, { role: 'user', content: text }] },
    fallback: conversation,
  };
}

/** The last question again, without its answer; the old answer comes back if the new one gets nothing. */
export function regenerateTurn(conversation) {
  const last = lastExchange(conversation);
  if (!last) return null;
  return {
    text: last.user.content,
    sent: { ...conversation, messages: conversation.messages.slice(0, -1) },
    fallback: conversation,
  };
}

/** The last question replaced by `text`, its answer dropped; both come back if the new one gets nothing. */
export function editTurn(conversation, text) {
  if (!lastExchange(conversation)) return null;
  return {
    text,
    sent: { ...conversation, messages: [...conversation.messages.slice(0, -2), { role: 'user', content: text }] },
    fallback: conversation,
  };
}

/** The conversation after a turn: the answer joins the history (with its `ending`, a key of ENDINGS, when
 * it did not finish on its own), or the turn leaves it entirely. */
export function settleTurn(turn, answer, ending = null) {
  if (!isAnswer(answer)) return turn.fallback;
  const message = { role: 'assistant', content: answer, ...(isEnding(ending) ? { ending } : {}) };
  return { ...turn.sent, messages: [...turn.sent.messages, message] };
}

/** The /api/stream request body. */
export function requestBody(conversation) {
  const body = { messages: conversation.messages.map(({ role, content }) => ({ role, content })) };
  if (showsSomething(conversation.system)) body.system = conversation.system;
  return body;
}

/** Characters the server counts against its limit: the system prompt, the history and the draft. */
export function inputChars(conversation, draft = '') {
  const system = showsSomething(conversation.system) ? charCount(conversation.system) : 0;
  return conversation.messages.reduce((sum, m) => sum + charCount(m.content), system + charCount(draft));
}

/** The same characters by part: {earlier, instructions, message}, the last message being the one just sent. */
export function inputParts(conversation) {
  const earlier = { system: '', messages: conversation.messages.slice(0, -1) };
  const message = conversation.messages.length ? charCount(conversation.messages.at(-1).content) : 0;
  return { earlier: inputChars(earlier), instructions: inputChars({ ...conversation, messages: [] }), message };
}

/** The whole conversation as Markdown, for the clipboard. */
export function toMarkdown(conversation) {
  const parts = [];
  if (showsSomething(conversation.system)) parts.push(`## Instructions\n\n${conversation.system.trim()}`);
  for (const m of conversation.messages) {
    const ending = m.ending ? `\n\n_${ENDINGS[m.ending]}_` : '';
    parts.push(`## ${m.role === 'user' ? 'You' : 'Assistant'}\n\n${m.content.trim()}${ending}`);
  }
  return parts.join('\n\n') + (parts.length ? '\n' : '');
}

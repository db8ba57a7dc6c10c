// Chat: the conversation (conversation.js) lives in this tab's sessionStorage, so a reload keeps it, and
// goes to /api/stream on every turn; the answer is read from the SSE stream and rendered as Markdown as
// it arrives. The history is redrawn when a turn starts or ends, never on a delta: while it streams,
// only the answer being written is re-rendered, at most once per animation frame.
//
// Screen readers hear "Answering…" when a turn starts and the whole answer once it is complete, through
// the page's polite status region; the log itself is not live, so no one hears every token.

import { refusedWhileLocked, toolsLocked } from './access.js';
import { SIGNING_OUT_EVENT } from './account.js';
import { ApiError, describeError, errorFromEvent, postJson, reportTokensRemaining } from './api.js';
import { budgetApplies, UNFINISHED_KEEPS_RESERVATION } from './budget.js';
import { overInputLimit } from './config.js';
import {
  askTurn, editTurn, emptyConversation, ENDINGS, inputChars, inputParts, isAnswer, lastExchange, regenerateTurn,
  requestBody, restoreConversation, settleTurn, toMarkdown, withSystem,
} from './conversation.js';
import { renderMarkdown } from './markdown.js';
import { readEventStream } from './sse.js';
import { showsSomething } from './text.js';
import {
  announce, attachCounter, clearError, copyWithFeedback, el, renderError, sendOnEnter, setValue,
} from './ui.js';

// How the note an answer keeps for its `ending` (conversation.js ENDINGS) looks.
const ENDING_CLASSES = { stopped: 'is-stopped', cut: 'is-stopped', length: 'is-info' };
// Under an answer cut at its length limit as it ends; not kept with the answer, nor in a copied chat.
const LENGTH_HINT = "Ask the model to go on, or the deployment's owner to raise MAX_OUTPUT_TOKENS.";

const STORAGE_KEY = 'llm-chat:conversation';
// The label of a turn that got no answer, above the note that says why.
const NO_ANSWER = 'No answer';

function loadConversation() {
  try {
    return restoreConversation(JSON.parse(sessionStorage.getItem(STORAGE_KEY)));
  } catch {
    return null; // storage disabled, or not JSON: start afresh
  }
}

function saveConversation(conversation) {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(conversation));
  } catch {
    // Storage full or disabled: the chat still works, it just will not survive a reload.
  }
}

function parseJson(data) {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

function button(label, action, className = 'button ghost small') {
  return el('button', { className, text: label, attrs: { type: 'button', 'data-action': action } });
}

/** An answer's Markdown into `body`. Tables scroll on their own; a finished answer's code blocks get Copy. */
function fillAnswer(body, text, { finished }) {
  body.replaceChildren(renderMarkdown(text));
  for (const table of body.querySelectorAll('table')) {
    const scroller = el('div', { className: 'table-scroll', attrs: { tabindex: '0' } });
    table.replaceWith(scroller);
    scroller.append(table);
  }
  if (!finished) return;
  for (const pre of body.querySelectorAll('pre')) {
    const block = el('div', { className: 'code-block' });
    pre.replaceWith(block);
    block.append(button('Copy code', 'copy-code', 'button ghost small code-copy'), pre);
  }
}

/** Re-render `body` from the latest text at most once per animation frame; finish() draws the last one. */
function progressiveAnswer(body, afterDraw) {
  let text = '';
  let frame = 0;
  const draw = () => {
    frame = 0;
    fillAnswer(body, text, { finished: false });
    afterDraw();
  };
  return {
    update(value) {
      text = value;
      if (!frame) frame = requestAnimationFrame(draw);
    },
    cancel() {
      cancelAnimationFrame(frame);
      frame = 0;
    },
  };
}

export function setupChat() {
  const log = document.getElementById('chat-log');
  const empty = document.getElementById('chat-empty');
  const form = document.getElementById('chat-form');
  const input = document.getElementById('chat-input');
  // "Nothing to send yet", as the other tabs say it; the answers' own errors go in the conversation, where
  // they belong to a turn.
  const emptyBox = document.getElementById('chat-error');
  const send = document.getElementById('chat-send');
  const stop = document.getElementById('chat-stop');
  const system = document.getElementById('chat-system');
  const systemState = document.getElementById('chat-system-state');
  const copyChat = document.getElementById('chat-copy');
  const panel = document.getElementById('panel-chat');

  let conversation = loadConversation() ?? emptyConversation();
  let turn = null;       // the turn being answered
  let answerSoFar = '';  // what has arrived of its answer
  let controller = null;
  let generation = 0;    // bumped by New chat (and leaving), so a turn still unwinding leaves the new chat alone

  const updateCounter = attachCounter(input, document.getElementById('chat-count'), {
    count: () => inputChars(turn ? turn.sent : conversation, input.value),
    suffix: ' in this chat',
  });
  sendOnEnter(input);

  function commit(next) {
    conversation = next;
    saveConversation(conversation);
    updateCounter();
  }

  // The log follows the answer as it grows until the person scrolls up to read something earlier, and again
  // once they are back at the end. Only a scroll up lets go: a follow's own smooth scroll only goes down, and
  // the log's end moving away as its lines wrap anew (a narrower window) is followed below.
  let stickToBottom = true;
  let touching = false;
  let lastScrollTop = log.scrollTop;
  const atTheEnd = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.addEventListener('scroll', () => {
    if (!touching) {
      if (atTheEnd()) stickToBottom = true;
      else if (log.scrollTop < lastScrollTop) stickToBottom = false;
    }
    lastScrollTop = log.scrollTop;
  });
  // A finger on the log lets go at once: a touch scroll moves a few pixels at a time, each undone by the next
  // follow before the check above could see it leave the end. Lifted at the end, it takes hold again.
  log.addEventListener('touchstart', () => {
    touching = true;
    stickToBottom = false;
  }, { passive: true });
  const lift = () => {
    touching = false;
    if (atTheEnd()) stickToBottom = true;
  };
  log.addEventListener('touchend', lift, { passive: true });
  log.addEventListener('touchcancel', lift, { passive: true });
  const follow = () => { if (stickToBottom) log.scrollTop = log.scrollHeight; };

  // While an answer streams, the page scrolls down as the log grows, so Stop stays on screen (on a phone the
  // log at its full height and the form do not fit under the header), but never past the log's top. As with
  // the log, a scroll up by the person lets go, until the next turn.
  let keepingStop = false;
  let lastPageY = window.scrollY;
  window.addEventListener('scroll', () => {
    if (window.scrollY < lastPageY) keepingStop = false;
    lastPageY = window.scrollY;
  }, { passive: true });
  const STOP_MARGIN_PX = 12;
  function keepStopInReach() {
    if (!keepingStop) return;
    const below = Math.ceil(stop.getBoundingClientRect().bottom + STOP_MARGIN_PX - window.innerHeight);
    const scroll = Math.min(below, log.getBoundingClientRect().top);
    if (scroll > 0) window.scrollBy({ top: scroll, behavior: 'instant' });
  }

  // A chat restored on load is drawn before its panel has a size, where there is nothing to scroll: follow
  // again once it is laid out, and whenever the window resizes it.
  new ResizeObserver(() => {
    follow();
    keepStopInReach();
  }).observe(log);

  function messageNode(role, { text = '', actions = [] } = {}) {
    const body = el('div', { className: role === 'user' ? 'msg-text' : 'msg-text markdown' });
    if (role === 'user') body.textContent = text;
    else if (text) fillAnswer(body, text, { finished: true });
    const node = el(
      'article',
      { className: `msg msg-${role}`, attrs: { 'aria-label': role === 'user' ? 'You said' : 'Assistant said' } },
      el('p', { className: 'msg-role', text: role === 'user' ? 'You' : 'Assistant' }),
      body,
      actions.length ? el('div', { className: 'msg-actions' }, ...actions) : null,
    );
    return { node, body };
  }

  /** Draw `shown` anew; `actions` adds Copy to each answer, Regenerate to the last and Edit to its question.
   * `toEnd` shows the log's end (a new turn, a new chat, the page's load); else it stays where the person has it. */
  function renderHistory(shown, { actions, toEnd = false }) {
    const last = actions ? lastExchange(shown) : null;
    const nodes = shown.messages.map((message, index) => {
      const isLast = last && index >= shown.messages.length - 2;
      const buttons = [];
      if (message.role === 'assistant' && actions) {
        buttons.push(button('Copy', 'copy-answer'));
        if (isLast) buttons.push(button('Regenerate', 'regenerate'));
      } else if (isLast) {
        buttons.push(button('Edit', 'edit'));
      }
      const { node } = messageNode(message.role, { text: message.content, actions: buttons });
      node.dataset.index = String(index);
      if (message.ending) node.querySelector('.msg-text').after(endingNote(message.ending));
      return node;
    });
    log.replaceChildren(empty, ...nodes);
    empty.hidden = nodes.length > 0;
    copyChat.disabled = shown.messages.length === 0;
    if (toEnd) stickToBottom = true;
    follow();
  }

  /** What stays under an answer that did not finish on its own, after a reload and under later turns. */
  function endingNote(ending) {
    return el('div', { className: `msg-note msg-ending ${ENDING_CLASSES[ending]}` },
      el('p', { className: 'note-title', text: ENDINGS[ending] }));
  }

  function addNote(host, className, info) {
    host.append(el('div', { className: `msg-note ${className}`, attrs: { role: className === 'is-error' ? 'alert' : 'status' } },
      el('p', { className: 'note-title', text: info.title }),
      info.hint ? el('p', { className: 'note-hint', text: info.hint }) : null,
      info.requestId ? el('p', { className: 'note-id', text: `Request ID: ${info.requestId}` }) : null));
    follow();
  }

  function setRunning(running) {
    send.disabled = running || toolsLocked();
    stop.disabled = !running;
    keepingStop = running;
    keepStopInReach();
    send.classList.toggle('is-busy', running);
    send.textContent = running ? send.dataset.busyLabel : 'Send';
    form.setAttribute('aria-busy', String(running));
  }

  /** Stream the answer to `next` (a turn from conversation.js), then settle it into the conversation. */
  async function runTurn(next, { regenerating = false } = {}) {
    if (!next || refusedWhileLocked()) return;
    clearError(emptyBox);
    const turnOf = generation;
    turn = next;
    renderHistory(turn.sent, { actions: false, toEnd: true });
    const answer = messageNode('assistant');
    answer.node.classList.add('is-streaming');
    answer.body.setAttribute('aria-busy', 'true');
    answer.body.append(el('span', { className: 'typing', attrs: { 'aria-hidden': 'true' } }, el('span'), el('span'), el('span')));
    log.append(answer.node);
    follow();
    const view = progressiveAnswer(answer.body, follow);

    controller = new AbortController();
    setRunning(true);
    // Focus on Send (disabled now), or on an edit's form or a Regenerate button (redrawn), would be left
    // nowhere: it goes to Stop, the one thing to do while the answer streams (and back to the box after).
    const focused = document.activeElement;
    if (focused === send || focused === document.body || log.contains(focused)) stop.focus();
    updateCounter();
    const sentOverLimit = overInputLimit(inputChars(turn.sent));
    const sent = inputParts(turn.sent);
    announce('Answering…');
    let received = '';
    answerSoFar = '';
    let finished = null;   // the `done` event's data
    let failure = null;    // describeError()'s {title, hint, requestId}
    let stopped = false;
    let accepted = false;  // the answer's stream began: the model took the request, and its reservation stands

    try {
      const response = await postJson('/api/stream', requestBody(turn.sent), {
        signal: controller.signal,
        accept: 'text/event-stream',
      });
      if (!(response.headers.get('content-type') || '').startsWith('text/event-stream')) {
        throw new ApiError({ status: response.status, type: 'bad_response', message: '' });
      }
      accepted = true;
      await readEventStream(response, ({ event, data }) => {
        const payload = parseJson(data);
        if (event === 'delta' && payload && typeof payload.text === 'string') {
          received += payload.text;
          answerSoFar = received;
          view.update(received);
        } else if (event === 'done') {
          finished = payload || {};
          reportTokensRemaining(finished.tokens_remaining);
        } else if (event === 'error') {
          failure = describeError(errorFromEvent(payload), { context: 'chat', overLimit: sentOverLimit, sent });
        }
      });
      if (!finished && !failure) {
        failure = { title: 'The answer was cut off.', hint: 'The connection closed before the answer was finished. Try again.' };
      }
    } catch (err) {
      if (err && err.name === 'AbortError') {
        stopped = true;
      } else if (err instanceof ApiError) {
        failure = describeError(err, { context: 'chat', overLimit: sentOverLimit, sent });
      } else {
        // A TypeError from reader.read(): the network dropped mid-answer.
        failure = { title: 'The connection was interrupted.', hint: 'Part of the answer may be missing. Try again.' };
      }
    } finally {
      view.cancel();
      controller = null;
    }
    const settled = turn;
    turn = null;
    if (turnOf !== generation) {
      setRunning(false);
      return;
    }

    let ending = null;
    if (stopped) ending = 'stopped';
    else if (failure) ending = 'cut';
    else if (finished?.finish_reason === 'max_output_tokens') ending = 'length';
    commit(settledNow(settled, received, ending));
    renderHistory(conversation, { actions: true });
    const answered = isAnswer(received);
    let host = log.lastElementChild;
    if (answered) host.querySelector('.msg-ending')?.remove(); // the fuller note below says it, this once
    let backInTheBox = '';
    if (!answered && !regenerating) {
      // The turn left the history: show what was not sent, and give the text back to retry.
      log.append(messageNode('user', { text: settled.text }).node);
      log.lastElementChild.classList.add('is-unsent');
      host = messageNode('assistant').node;
      host.querySelector('.msg-text').remove(); // no answer: only the note below says why
      // Labelled as what it is: the note under it is the page's or the server's, not the model's.
      host.querySelector('.msg-role').textContent = NO_ANSWER;
      host.setAttribute('aria-label', NO_ANSWER);
      host.classList.add('is-empty');
      log.append(host);
      empty.hidden = true; // the unsent turn is on show: the chat is not empty
      if (!input.value.trim()) setValue(input, settled.text);
      backInTheBox = 'Your message is back in the box.';
    } else if (!answered) {
      backInTheBox = 'The previous answer is kept.';
    }

    if (stopped) {
      addNote(host, 'is-stopped', {
        title: answered ? 'Stopped. The text above is what arrived.' : 'Stopped before any answer arrived.',
        hint: [backInTheBox, budgetApplies() ? UNFINISHED_KEEPS_RESERVATION : ''].filter(Boolean).join(' '),
      });
      announce('Stopped');
    } else if (failure) {
      // Cut off once the stream began, text or not: the model had accepted the request, so its reservation stands.
      const kept = accepted && budgetApplies() ? UNFINISHED_KEEPS_RESERVATION : '';
      addNote(host, 'is-error', { ...failure, hint: [failure.hint, backInTheBox, kept].filter(Boolean).join(' ') });
      announce(''); // the note is an alert and speaks for itself; "Answering…" must not stay behind
    } else {
      if (finished && finished.finish_reason === 'max_output_tokens') {
        addNote(host, 'is-info', { title: ENDINGS.length, hint: LENGTH_HINT });
      }
      announce(`Answer complete: ${renderMarkdown(received).textContent.trim()}`);
    }

    setRunning(false);
    updateCounter();
    if (document.activeElement === document.body || document.activeElement === null || document.activeElement === stop) {
      // Without scrolling: a person who scrolled the page away while the answer streamed keeps their place.
      input.focus({ preventScroll: true });
    }
  }

  function startEditing(node) {
    const text = lastExchange(conversation).user.content;
    const editor = el('textarea', { attrs: { id: 'chat-edit', rows: '3', 'aria-label': 'Edit your message' } });
    editor.value = text;
    const editError = el('div', { className: 'error-box', attrs: { role: 'alert' } });
    editError.hidden = true;
    const editForm = el('form', { className: 'msg-edit', attrs: { 'aria-label': 'Edit your message' } },
      editor,
      editError,
      el('div', { className: 'msg-actions' },
        button('Cancel', 'cancel-edit'),
        el('button', { className: 'button primary small', text: 'Send', attrs: { type: 'submit' } })));
    node.querySelector(':scope > .msg-actions')?.remove();
    node.querySelector('.msg-text').replaceWith(editForm);
    node.classList.add('is-editing');
    sendOnEnter(editor);
    editor.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        cancelEditing();
      }
    });
    editForm.addEventListener('submit', (event) => {
      event.preventDefault();
      if (controller) return;
      if (!editor.value.trim()) {
        renderError(editError, {
          title: 'Nothing to send yet.',
          hint: 'Write your message, or Cancel to keep it as it was.',
        });
        editor.focus();
        return;
      }
      runTurn(editTurn(conversation, editor.value));
    });
    editor.addEventListener('input', () => {
      if (!editError.hidden && editor.value.trim()) clearError(editError);
    });
    editor.focus();
    editor.setSelectionRange(editor.value.length, editor.value.length);
  }

  function cancelEditing() {
    renderHistory(conversation, { actions: true });
    // Back on Edit, where the person began, as a cancelled dialog returns to what opened it.
    (log.querySelector('button[data-action="edit"]') || input).focus();
  }

  log.addEventListener('click', (event) => {
    const target = event.target.closest('button[data-action]');
    if (!target || controller) return;
    const message = target.closest('.msg');
    switch (target.dataset.action) {
      case 'copy-answer':
        copyWithFeedback(target, conversation.messages[Number(message.dataset.index)].content);
        break;
      case 'copy-code':
        copyWithFeedback(target, target.closest('.code-block').querySelector('pre').textContent);
        break;
      case 'regenerate':
        runTurn(regenerateTurn(conversation), { regenerating: true });
        break;
      case 'edit':
        startEditing(message);
        break;
      case 'cancel-edit':
        cancelEditing();
        break;
    }
  });

  input.addEventListener('input', () => {
    if (!emptyBox.hidden && input.value.trim()) clearError(emptyBox);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (controller || refusedWhileLocked()) return;
    const text = input.value;
    if (!text.trim()) {
      renderError(emptyBox, { title: 'Nothing to send yet.', hint: 'Write a message first.' });
      input.focus();
      return;
    }
    setValue(input, '');
    runTurn(askTurn(conversation, text));
  });

  stop.addEventListener('click', () => controller?.abort());
  // Leaving or reloading mid-answer keeps the turn as Stop would: the question and what arrived of the answer.
  // The turn's own end, which the page's leaving brings as a network error, must not overwrite that.
  window.addEventListener('pagehide', () => {
    if (!turn) return;
    saveConversation(settledNow(turn, answerSoFar, 'stopped'));
    generation++;
  });
  // "Esc to stop" wherever the focus is while the chat is shown, as on the page itself after a click on it.
  document.addEventListener('keydown', (event) => {
    // An Esc that ends an input method's composition is the input method's.
    if (event.key === 'Escape' && !event.isComposing && controller && !panel.hidden && !event.defaultPrevented) {
      event.preventDefault();
      controller.abort();
    }
  });

  // The turn began with the conversation as it was; the instructions are kept as they are now, since a person
  // may edit them while the answer streams.
  function settledNow(settled, answer, ending) {
    return withSystem(settleTurn(settled, answer, ending), conversation.system);
  }

  function showSystemState() {
    systemState.textContent = showsSomething(conversation.system) ? 'on' : 'off';
  }
  system.value = conversation.system;
  showSystemState();
  system.addEventListener('input', () => {
    commit(withSystem(conversation, system.value));
    showSystemState();
  });

  copyChat.addEventListener('click', () => copyWithFeedback(copyChat, toMarkdown(conversation)));

  document.getElementById('chat-new').addEventListener('click', () => {
    generation++;
    controller?.abort();
    turn = null;
    commit(emptyConversation(conversation.system));
    renderHistory(conversation, { actions: true, toEnd: true });
    clearError(emptyBox);
    input.focus();
    announce('New chat started');
  });

  // Signing out leaves nothing of the conversation in this tab, for whoever uses the browser next.
  document.addEventListener(SIGNING_OUT_EVENT, () => {
    generation++;
    controller?.abort();
    turn = null;
    clearError(emptyBox);
    conversation = emptyConversation();
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // Storage disabled: nothing was kept.
    }
    system.value = '';
    showSystemState();
    setValue(input, '');
    renderHistory(conversation, { actions: true, toEnd: true });
  });

  renderHistory(conversation, { actions: true, toEnd: true });
}

// Chat: the conversation lives in this page and goes to /api/stream as `messages` on every turn; the
// answer is read from the SSE stream as it arrives. A turn that produced no answer text (refused, failed
// before streaming, stopped before the first token) is taken back out of the history and its text put
// back in the box, so what the model is sent next time is exactly what the person sees as answered.

import { ApiError, describeError, postJson } from './api.js';
import { readEventStream } from './sse.js';
import { announce, attachCounter, charCount, copyWithFeedback, el, maxChars, submitOnModEnter } from './ui.js';

// The error types of the contract, so an in-stream `error` event reads like the HTTP error would.
const STATUS_OF_TYPE = {
  invalid_request: 400, too_large: 413, rate_limited: 429, upstream_error: 502,
  not_configured: 503, upstream_timeout: 504,
};

function parseJson(data) {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

export function setupChat() {
  const log = document.getElementById('chat-log');
  const empty = document.getElementById('chat-empty');
  const form = document.getElementById('chat-form');
  const input = document.getElementById('chat-input');
  const send = document.getElementById('chat-send');
  const stop = document.getElementById('chat-stop');
  const newChat = document.getElementById('chat-new');
  const panel = document.getElementById('panel-chat');

  const history = [];
  let controller = null;
  let conversation = 0; // bumped by New chat, so a turn still unwinding leaves the new chat alone

  const historyChars = () => history.reduce((sum, m) => sum + charCount(m.content), 0);
  const updateCounter = attachCounter(input, document.getElementById('chat-count'), {
    extra: historyChars,
    suffix: ' in this chat',
  });
  submitOnModEnter(input);

  // Follow the answer as it grows, unless the person scrolled up to read something earlier.
  let stickToBottom = true;
  log.addEventListener('scroll', () => {
    stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  });
  const follow = () => { if (stickToBottom) log.scrollTop = log.scrollHeight; };

  function addMessage(role, text = '') {
    empty.hidden = true;
    const body = el('div', { className: 'msg-text' });
    const textNode = document.createTextNode(text);
    body.append(textNode);
    const message = el(
      'article',
      { className: `msg msg-${role}`, attrs: { 'aria-label': role === 'user' ? 'You said' : 'Assistant said' } },
      el('p', { className: 'msg-role', text: role === 'user' ? 'You' : 'Assistant' }),
      body,
    );
    log.append(message);
    stickToBottom = true;
    follow();
    return { message, body, textNode };
  }

  function addNote(message, className, info) {
    const note = el('div', { className: `msg-note ${className}`, attrs: { role: className === 'is-error' ? 'alert' : 'status' } },
      el('p', { className: 'note-title', text: info.title }),
      info.detail ? el('p', { className: 'note-detail', text: info.detail }) : null,
      info.hint ? el('p', { className: 'note-hint', text: info.hint }) : null,
      info.requestId ? el('p', { className: 'note-id', text: `Request ID: ${info.requestId}` }) : null);
    message.append(note);
    follow();
  }

  function addCopy(message, text) {
    const button = el('button', { className: 'button ghost small copy', text: 'Copy', attrs: { type: 'button' } });
    button.addEventListener('click', () => copyWithFeedback(button, text));
    message.append(el('div', { className: 'msg-actions' }, button));
  }

  function setRunning(running) {
    send.disabled = running;
    stop.disabled = !running;
    send.classList.toggle('is-busy', running);
    send.textContent = running ? send.dataset.busyLabel : 'Send';
    form.setAttribute('aria-busy', String(running));
  }

  async function runTurn(text) {
    const turnOf = conversation;
    history.push({ role: 'user', content: text });
    addMessage('user', text);
    const answer = addMessage('assistant');
    answer.message.classList.add('is-streaming');
    answer.body.setAttribute('aria-busy', 'true');
    const thinking = el('span', { className: 'typing', attrs: { 'aria-hidden': 'true' } },
      el('span'), el('span'), el('span'));
    answer.body.append(thinking);

    controller = new AbortController();
    setRunning(true);
    updateCounter();
    let received = '';
    let finished = null;   // the `done` event's data
    let failure = null;    // {info, beforeStream}
    let stopped = false;

    try {
      const response = await postJson('/api/stream', { messages: history.slice() }, {
        signal: controller.signal,
        accept: 'text/event-stream',
      });
      const type = response.headers.get('content-type') || '';
      if (!type.startsWith('text/event-stream')) {
        throw new ApiError({ status: response.status, type: 'bad_response', message: '' });
      }
      await readEventStream(response, ({ event, data }) => {
        const payload = parseJson(data);
        if (event === 'delta' && payload && typeof payload.text === 'string') {
          if (!received) thinking.remove();
          received += payload.text;
          answer.textNode.appendData(payload.text);
          follow();
        } else if (event === 'done') {
          finished = payload || {};
        } else if (event === 'error') {
          const error = (payload && payload.error) || {};
          const status = STATUS_OF_TYPE[error.type] || 502;
          failure = {
            info: describeError(new ApiError({
              status, type: error.type || '', message: error.message || '', requestId: error.request_id || '',
            }), { limit: maxChars(), context: 'chat' }),
          };
        }
      });
      if (!finished && !failure) {
        failure = { info: {
          title: 'The answer was cut off',
          hint: 'The connection closed before the answer was finished. Try again.',
        } };
      }
    } catch (err) {
      if (err && err.name === 'AbortError') {
        stopped = true;
      } else if (err instanceof ApiError) {
        failure = { info: describeError(err, { limit: maxChars(), context: 'chat' }), beforeStream: true };
      } else {
        // A TypeError from reader.read(): the network dropped mid-answer.
        failure = { info: {
          title: 'The connection was interrupted',
          hint: 'Part of the answer may be missing. Try again.',
        } };
      }
    } finally {
      controller = null;
      thinking.remove();
      answer.message.classList.remove('is-streaming');
      answer.body.removeAttribute('aria-busy');
    }
    if (turnOf !== conversation) {
      setRunning(false);
      return;
    }

    if (received) {
      history.push({ role: 'assistant', content: received });
    } else {
      // Nothing came back: the turn leaves the history and the text goes back in the box to retry.
      history.pop();
      answer.body.remove();
      answer.message.classList.add('is-empty');
      answer.message.previousElementSibling?.classList.add('is-unsent');
      if (!input.value.trim()) {
        input.value = text;
      }
    }

    if (stopped) {
      addNote(answer.message, 'is-stopped', {
        title: received ? 'Stopped. The text above is what arrived.' : 'Stopped before any answer arrived.',
        hint: received ? '' : 'Your message is back in the box.',
      });
      announce('Stopped');
    } else if (failure) {
      const hint = [failure.info.hint, received ? '' : 'Your message is back in the box.'].filter(Boolean).join(' ');
      addNote(answer.message, 'is-error', { ...failure.info, hint });
    } else if (finished && finished.finish_reason === 'max_output_tokens') {
      addNote(answer.message, 'is-info', { title: 'The answer reached its length limit and was cut short.' });
    }
    if (received) addCopy(answer.message, received);

    setRunning(false);
    updateCounter();
    if (document.activeElement === document.body || document.activeElement === stop) input.focus();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (controller) return;
    const text = input.value;
    if (!text.trim()) {
      input.focus();
      return;
    }
    input.value = '';
    runTurn(text);
  });

  stop.addEventListener('click', () => controller?.abort());
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && controller) {
      event.preventDefault();
      controller.abort();
    }
  });

  newChat.addEventListener('click', () => {
    conversation++;
    controller?.abort();
    history.length = 0;
    log.replaceChildren(empty);
    empty.hidden = false;
    updateCounter();
    input.focus();
    announce('New chat started');
  });
}

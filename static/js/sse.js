// A Server-Sent Events reader for fetch() responses, following the WHATWG event-stream rules:
// lines end in LF, CR or CRLF (a CRLF may be split across two network chunks), "data" lines of one
// event are joined with "\n", lines starting with ":" are comments (the server's keep-alives), and an
// event is dispatched by a blank line, so a half-received event at the end of a chunk waits for the rest.

export class SseParser {
  constructor() {
    this.pending = '';      // text after the last complete line
    this.skipLeadingLF = false; // the previous chunk ended in CR; an LF opening this one is its pair
    this.eventType = '';
    this.dataLines = [];
    this.lastEventId = '';
  }

  /** Feed decoded text; returns the events it completes, in order. */
  push(text) {
    if (!text) return [];
    if (this.skipLeadingLF && text[0] === '\n') text = text.slice(1);
    this.skipLeadingLF = false;
    const buffer = this.pending + text;
    const events = [];
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const ch = buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      const line = buffer.slice(start, i);
      if (ch === '\r') {
        if (i + 1 < buffer.length) {
          if (buffer[i + 1] === '\n') i++;
        } else {
          this.skipLeadingLF = true;
        }
      }
      start = i + 1;
      const event = this.#line(line);
      if (event) events.push(event);
    }
    this.pending = buffer.slice(start);
    return events;
  }

  #line(line) {
    if (line === '') return this.#dispatch();
    if (line[0] === ':') return null; // a comment, e.g. ": keep-alive"
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'event') this.eventType = value;
    else if (field === 'data') this.dataLines.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    // "retry" and unknown fields do not matter to a one-shot fetch stream.
    return null;
  }

  #dispatch() {
    const hasData = this.dataLines.length > 0;
    const event = { event: this.eventType || 'message', data: this.dataLines.join('\n'), id: this.lastEventId };
    this.eventType = '';
    this.dataLines = [];
    return hasData ? event : null;
  }
}

/**
 * Read a text/event-stream response body and call onEvent({event, data, id}) for each event.
 * Resolves when the body ends; rejects with an AbortError when the request's signal aborts.
 * An event left without its closing blank line when the stream ends is dropped, as the spec says:
 * the caller learns of a cut stream from the missing "done" event.
 */
export async function readEventStream(response, onEvent) {
  const reader = response.body.getReader();
  // stream: true keeps a multi-byte UTF-8 character split across chunks intact.
  const decoder = new TextDecoder('utf-8');
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const event of parser.push(decoder.decode(value, { stream: true }))) onEvent(event);
    }
    for (const event of parser.push(decoder.decode())) onEvent(event);
  } finally {
    reader.releaseLock();
  }
}

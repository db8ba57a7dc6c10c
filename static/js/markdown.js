// Model-written Markdown to DOM nodes, safely. Two layers, either of which alone would hold:
//   1. marked renders raw HTML in the source as text (a model that writes <script> shows <script>), and
//      renders images as links: an <img> would make the browser fetch a URL the model chose, and a URL
//      can carry what the conversation holds (Markdown-image exfiltration).
//   2. DOMPurify then keeps only the tags Markdown produces, and links only to http(s) and mailto.
// The HTML is parsed by DOMPurify into an inert document and handed back as a DocumentFragment: no
// string of model text is ever assigned to innerHTML of the live page.

import DOMPurify from '../vendor/dompurify.js';
import { Marked } from '../vendor/marked.js';

const INLINE_TAGS = ['a', 'strong', 'em', 'del', 'code', 'br'];
const BLOCK_TAGS = [
  ...INLINE_TAGS, 'p', 'pre', 'blockquote', 'ul', 'ol', 'li', 'hr',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
];
const SAFE_URL = /^(?:https?:|mailto:)/i;

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

const markdown = new Marked({ gfm: true, breaks: false, async: false });
markdown.use({
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text, tokens }) {
      const alt = tokens ? this.parser.parseInline(tokens, this.parser.textRenderer) : text;
      const host = hostOf(href);
      const label = `Image: ${alt || 'untitled'}${host ? ` (${host})` : ''}`;
      return `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>`;
    },
  },
});

const purifier = DOMPurify(window);
purifier.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName !== 'A') return;
  if (node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

function sanitize(html, tags) {
  return purifier.sanitize(html, {
    ALLOWED_TAGS: tags,
    ALLOWED_ATTR: ['href', 'title', 'align', 'start'],
    ALLOWED_URI_REGEXP: SAFE_URL,
    RETURN_DOM_FRAGMENT: true,
  });
}

/** A Markdown document (a chat answer) as a fragment of safe block-level nodes. */
export function renderMarkdown(source) {
  return sanitize(markdown.parse(source), BLOCK_TAGS);
}

/** One line of Markdown (a summary bullet): emphasis, code and links only. */
export function renderInlineMarkdown(source) {
  return sanitize(markdown.parseInline(source), INLINE_TAGS);
}

// Counting and writing text the way the server does.

// The page's words are English (index.html's lang), and so are the server's messages ("1,234 of 20,000 left"):
// numbers and dates are written in English too, whatever the browser's language, so a due date never reads
// "ven. 27 nov. (demain)" beside English words. Only the clock's 12 or 24 hours is the person's own (api.js).
export const PAGE_LOCALE = document.documentElement.lang || 'en';

/** 12400 -> "12,400", as the server's messages write counts. */
export function formatCount(n) {
  return n.toLocaleString(PAGE_LOCALE);
}

// A character that shows nothing on its own, as the server's contract reads one (functions/llm_core/json_values.py):
// white space, controls, format characters (the zero-width space), lone combining marks, letters drawn as
// blanks and noncharacters.
const SHOWS_NOTHING = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Mn}\p{Me}\p{Noncharacter_Code_Point}\u115F\u1160\u3164\uFFA0\u2800]*$/u;

/** Whether `text` holds a character that shows: text that does not is blank to the server. */
export function showsSomething(text) {
  return !SHOWS_NOTHING.test(text);
}

/** Length in Unicode code points, the way the Python server counts len(text). */
export function charCount(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

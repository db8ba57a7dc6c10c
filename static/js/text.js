// Counting text the way the server does.

/** Length in Unicode code points, the way the Python server counts len(text). */
export function charCount(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

// x-amz-content-sha256 for CloudFront's Origin Access Control: the hex SHA-256 of the exact body bytes.

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Hex SHA-256 of a Uint8Array, or null where the page is not a secure context (plain http from a
 * non-loopback host has no crypto.subtle). HTTPS and localhost always have it; without it the request
 * goes unsigned, which only the local emulator accepts anyway.
 */
export async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) return null;
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

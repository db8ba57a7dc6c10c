// x-amz-content-sha256 for CloudFront's Origin Access Control: the hex SHA-256 of the exact body bytes.

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Hex SHA-256 of a Uint8Array, with crypto.subtle where the page is a secure context. */
export async function sha256Hex(bytes) {
  if (globalThis.crypto && crypto.subtle) {
    return toHex(await crypto.subtle.digest('SHA-256', bytes));
  }
  const { sha256HexSync } = await import('./sha256.js');
  return sha256HexSync(bytes);
}

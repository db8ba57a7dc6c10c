// Loads static/js/auth.js the way the page does: config.json first, then start() once.
import { createAuth } from '/js/auth.js';

const config = await (await fetch('/config.json')).json();
window.auth = createAuth(config.auth);
window.changes = [];
window.auth.onChange((user) => window.changes.push(user));
window.ready = window.auth.start().catch((error) => ({ error: error.name, message: error.message }));

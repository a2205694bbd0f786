// Errors made in JS (the page's, VaeWorker's and its worker's) carry a `code` as the module's
// do (docs/errors.md), so callers decide on codes, never on message text.

/** An Error with a stable `code`. */
export const failure = (code, message) => Object.assign(new Error(message), { code });

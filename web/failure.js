// The page's own errors carry a `code` as the module's do (README, "Errors"), so the page
// decides on codes, never on message text.

/** An Error with a stable `code`. */
export const failure = (code, message) => Object.assign(new Error(message), { code });

/** The CLI's own version (shown by `shoal version` and `shoal -v`). */
export const CLIENT_VERSION = '0.1.0';

import pkg from '../package.json' with { type: 'json' };

/** Sent at registration so the server (and an operator) can tell pilot builds apart. */
export const VERSION: string = pkg.version;

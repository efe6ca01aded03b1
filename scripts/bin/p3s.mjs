#!/usr/bin/env node
// The p3s admin CLI: runs the bundled build (npm run build) so start-up stays fast.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'p3s.mjs');
if (!existsSync(dist)) {
  process.stderr.write('p3s: dist/p3s.mjs is missing; run `npm run build` (npm install does it)\n');
  process.exit(1);
}
await import(pathToFileURL(dist).href);

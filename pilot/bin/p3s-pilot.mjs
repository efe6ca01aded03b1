#!/usr/bin/env node
// The p3s pilot: runs the single-file build dist/p3s-pilot.mjs (npm run build:pilot).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'p3s-pilot.mjs');
if (!existsSync(dist)) {
  process.stderr.write(
    'p3s-pilot: dist/p3s-pilot.mjs is missing; run `npm run build:pilot` (npm install does it)\n',
  );
  process.exit(1);
}
await import(pathToFileURL(dist).href);

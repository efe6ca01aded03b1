/**
 * Builds the single-file programs into dist/ and links the package's own bins into
 * node_modules/.bin so `npx p3s` and `npx p3s-pilot` work inside the checkout.
 * Runs on `npm install` (prepare). Usage: build.ts [pilot|cli]
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const which = process.argv[2];
const targets = [
  { name: 'cli', entry: 'scripts/cli/main.ts', out: 'dist/p3s.mjs' },
  { name: 'pilot', entry: 'pilot/main.ts', out: 'dist/p3s-pilot.mjs' },
].filter((t) => !which || t.name === which);

mkdirSync(join(root, 'dist'), { recursive: true });
for (const t of targets) {
  if (!existsSync(join(root, t.entry))) continue;
  const started = Date.now();
  await build({
    entryPoints: [join(root, t.entry)],
    outfile: join(root, t.out),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: false,
    legalComments: 'none',
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __p3sCreateRequire } from 'node:module'; const require = __p3sCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  chmodSync(join(root, t.out), 0o755);
  process.stdout.write(`built ${t.out} in ${Date.now() - started} ms\n`);
}

// Link our own bins (npm does not link a root package's bins into its own node_modules/.bin).
const bin = join(root, 'node_modules', '.bin');
if (existsSync(bin)) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  for (const [name, target] of Object.entries(pkg.bin)) {
    const link = join(bin, name);
    rmSync(link, { force: true });
    symlinkSync(relative(bin, join(root, target)), link);
  }
}

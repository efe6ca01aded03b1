import { createHash } from 'node:crypto';
import { js } from './script.ts';
import { css } from './style.ts';

export interface Asset {
  body: string;
  type: string;
  /** Content hash: asset URLs carry it, so a new deployment is never served a stale cached file. */
  hash: string;
}

const asset = (body: string, type: string): Asset => ({
  body,
  type,
  hash: createHash('sha256').update(body).digest('hex').slice(0, 12),
});

/** The static files of the monitor, by the name in `/monitor/assets/{file}`. */
export const ASSETS: Readonly<Record<string, Asset>> = {
  'monitor.css': asset(css, 'text/css; charset=utf-8'),
  'monitor.js': asset(js, 'text/javascript; charset=utf-8'),
};

/** The versioned URL of an asset. */
export function assetUrl(file: keyof typeof ASSETS & string): string {
  return `/monitor/assets/${file}?v=${ASSETS[file]?.hash ?? ''}`;
}

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { css } from '../../shared/monitor/assets/style.ts';
import { escapeHtml, html, join, jsonForScript, trusted, url } from '../../shared/monitor/html.ts';

describe('html template', () => {
  test('every interpolation is escaped: a script tag becomes text', () => {
    const name = '<script>alert(1)</script>';
    assert.equal(html`<td>${name}</td>`.value, '<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>');
  });

  test('a value cannot leave a quoted attribute', () => {
    const v = `" onmouseover="alert(1)' x='`;
    const out = html`<a title="${v}">x</a>`.value;
    assert.equal(out, '<a title="&quot; onmouseover=&quot;alert(1)&#39; x=&#39;">x</a>');
  });

  test('markup built by html nests unescaped; arrays join; false, null and undefined render nothing', () => {
    const items = ['a&b', '<i>'].map((t) => html`<li>${t}</li>`);
    assert.equal(
      html`<ul>${items}${false}${null}${undefined}</ul>`.value,
      '<ul><li>a&amp;b</li><li>&lt;i&gt;</li></ul>',
    );
    assert.equal(html`${0} ${12.5}`.value, '0 12.5');
  });

  test('only trusted() and html produce markup; plain strings that look like markup are escaped', () => {
    assert.equal(html`${trusted('<b>ok</b>')}`.value, '<b>ok</b>');
    assert.equal(html`${'<b>no</b>'}`.value, '&lt;b&gt;no&lt;/b&gt;');
    assert.equal(join(['<a>', html`<b></b>`], ', ').value, '&lt;a&gt;, <b></b>');
    assert.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;');
  });

  test('url() leaves out empty parameters, encodes values and joins lists with commas', () => {
    assert.equal(
      url('/monitor/jobs', { state: ['defined', 'running'], user: '', site: undefined, q: 'a b&c' }),
      '/monitor/jobs?state=defined%2Crunning&q=a+b%26c',
    );
    assert.equal(url('/monitor/jobs', {}), '/monitor/jobs');
  });

  test('JSON for a script block cannot close the block', () => {
    assert.equal(jsonForScript({ n: '</script><script>x' }).value, '{"n":"\\u003c/script>\\u003cscript>x"}');
  });
});

describe('state badges', () => {
  // Written here, not read from the code: a shifter learns these colours; changing one is a
  // decision to make on purpose, not a side effect.
  const BADGES: Record<string, string> = {
    defined: '#bfdbfe',
    running: '#fde68a',
    finished: '#bbf7d0',
    failed: '#fecaca',
    pilotTO: '#fbcfe8',
    active: '#bfdbfe',
    waiting: '#e0f2fe',
    stopped: '#e5e7eb',
    timeout: '#fbcfe8',
  };

  test('job and pilot states have their badge colour in the stylesheet', () => {
    for (const [state, colour] of Object.entries(BADGES))
      assert.ok(css.includes(`.s-${state}{background:${colour}}`), `a ${state} badge is ${colour}`);
  });
});

import { STATE_FILL } from '../states.ts';

/**
 * The monitor's only stylesheet, kept as a string module so esbuild bundles it into the
 * assets Lambda (no build step, no file reads at run time). Sizes are in rem and the root
 * font grows with the viewport, so the same page reads on a laptop and on a control-room wall.
 */
const badges = Object.entries(STATE_FILL)
  .map(([s, fill]) => `.s-${s}{background:${fill}}`)
  .join('\n');

export const css = `
:root{--fg:#0f172a;--muted:#475569;--bg:#f8fafc;--card:#fff;--line:#cbd5e1;--link:#1d4ed8;--crit:#991b1b;--critbg:#fee2e2;--warn:#854d0e;--warnbg:#fef9c3;--ok:#166534;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
font-size:clamp(15px,0.55vw + 10px,24px);line-height:1.4}
body{margin:0}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:.5rem;top:.5rem;background:#fff;padding:.3rem .6rem;z-index:9}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:.4rem 1.2rem;padding:.5rem 1rem;background:#0f172a;color:#f8fafc}
header.top a{color:#f8fafc}
header.top .brand{font-weight:700;font-size:1.15rem;text-decoration:none}
header.top nav ul{display:flex;flex-wrap:wrap;gap:.2rem .8rem;list-style:none;margin:0;padding:0;font-size:.95rem}
header.top nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
header.top .who{margin-left:auto;display:flex;gap:.6rem;align-items:center;font-size:.85rem;min-width:0}
header.top .who>span{max-width:16rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
header.top .who button{font:inherit;font-size:.85rem;padding:.1rem .5rem;cursor:pointer}
main{padding:.8rem 1rem 2rem;max-width:120rem;margin:0 auto}
h1{font-size:1.35rem;margin:.2rem 0 .7rem}
h2{font-size:1.1rem;margin:0 0 .5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem;align-items:start}
.card{background:var(--card);border:1px solid var(--line);border-radius:.4rem;padding:.7rem .9rem;overflow-x:auto}
.wide{grid-column:1/-1}
@media (min-width:70rem){.grid.dash{grid-template-columns:repeat(3,minmax(0,1fr))}.grid.dash .span2{grid-column:span 2}}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.92rem}
table.fit{table-layout:fixed}
table.fit th,table.fit td,.clip{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
table.fit th,table.fit td{padding:.2rem .4rem}
col.w-xs{width:5ch}col.w-t{width:8.5ch}col.w-s{width:9ch}col.w-m{width:12ch}col.w-l{width:17ch}col.w-xl{width:24ch}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
.small{font-size:.8rem}
.pagehead{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem 1.5rem;margin:0 0 .6rem}
.pagehead h1{margin:0}
form.filters.inline{margin:0;align-items:center}
form.filters.inline label{flex-direction:row;gap:.4rem;align-items:center}
form.filters.inline .status{margin:0}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(10.5rem,1fr));gap:.6rem;margin:0 0 .8rem}
.tile{background:var(--card);border:1px solid var(--line);border-radius:.4rem;padding:.3rem .7rem;min-width:0}
.tile .label{font-size:.8rem;color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.tile .value{font-size:1.5rem;font-weight:700;line-height:1.25;white-space:nowrap}
.tile .value a{text-decoration:none}
.tile .foot{font-size:.8rem;display:flex;gap:.5rem;align-items:center;white-space:nowrap;color:var(--muted)}
.tile.bad{border-color:var(--crit);background:var(--critbg)}
.tile.bad .value,.tile.bad .value a{color:var(--crit)}
.tile.warn{border-color:var(--warn);background:var(--warnbg)}
.spark{width:6.5rem;height:1.3rem;flex:none}
.dash-top{display:grid;grid-template-columns:minmax(0,1fr);gap:1rem;align-items:start;margin:0 0 1rem}
@media (min-width:64rem){.dash-top{grid-template-columns:minmax(0,5fr) minmax(0,6fr)}}
td.bad,td.bad a{color:var(--crit);font-weight:700}
.crit{color:var(--crit)}
progress{width:6rem;vertical-align:middle}
pre.json{background:#f1f5f9;padding:.5rem;border-radius:.3rem;overflow:auto;max-height:24rem;font-size:.85rem;margin:0}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border-bottom:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600;white-space:nowrap}
th a{color:inherit}
td.num,th.num{text-align:right;white-space:nowrap}
td time,td .mono,td .badge{white-space:nowrap}
tbody tr:hover{background:#f1f5f9}
.badge{display:inline-block;padding:0 .45rem;border-radius:.7rem;border:1px solid #94a3b8;font-size:.85rem;white-space:nowrap;color:#0f172a}
${badges}
.muted{color:var(--muted)}
.alerts{list-style:none;margin:0;padding:0}
.alerts li{padding:.3rem .6rem;border-radius:.3rem;margin:.25rem 0;border-left:.4rem solid;font-size:.92rem}
.alerts .critical{background:var(--critbg);color:var(--crit);border-color:var(--crit);font-weight:600}
.alerts .warning{background:var(--warnbg);color:var(--warn);border-color:var(--warn)}
.alerts .ok{color:var(--ok);border-color:var(--ok);background:#dcfce7}
.alerts a{color:inherit}
.counts{display:flex;flex-wrap:wrap;gap:.3rem .9rem;margin:0;padding:0;list-style:none}
.counts li{white-space:nowrap}
.counts .n{font-weight:700;font-size:1.15rem}
.big{font-size:1.6rem;font-weight:700}
.atcap{background:#fef9c3}
.chart{width:100%;height:auto;max-height:24rem}
footer{padding:.5rem 1rem 1.5rem;max-width:120rem;margin:0 auto;font-size:.85rem}
.dagbox{overflow:auto;max-height:80vh;border:1px solid var(--line);background:#fff}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.kv dt{font-weight:600;color:var(--muted)}
dl.kv dd{margin:0;overflow-wrap:anywhere}
pre.tail{background:#0f172a;color:#e2e8f0;padding:.6rem;border-radius:.3rem;overflow:auto;max-height:30rem;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
ol.timeline{margin:0;padding-left:1.2rem}
ol.timeline li{margin:.15rem 0}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:0 0 .8rem}
form.filters fieldset{border:1px solid var(--line);border-radius:.3rem;margin:0;padding:.2rem .5rem}
form.filters label{display:inline-flex;flex-direction:column;font-size:.9rem}
form.filters fieldset label{display:inline-flex;flex-direction:row;gap:.2rem;margin-right:.6rem}
input,select,button{font:inherit}
.pager{display:flex;gap:1rem;margin:.6rem 0}
.status{font-size:.85rem}
.status.error{color:var(--crit);font-weight:600}
.notice{background:#e0f2fe;border:1px solid #7dd3fc;padding:.6rem .8rem;border-radius:.3rem}
.signin{max-width:32rem;margin:3rem auto}
.signin input[type=password]{width:100%;box-sizing:border-box;padding:.3rem}
.error-box{background:var(--critbg);color:var(--crit);padding:.5rem .8rem;border-radius:.3rem}
@media (max-width:40rem){main{padding:.5rem}.grid{grid-template-columns:1fr}}
@media print{header.top{display:none}}
`;

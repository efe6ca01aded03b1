/**
 * The monitor's only script (plain browser JavaScript in a string module, bundled by esbuild;
 * the pages work without it, it makes them nicer): local times and ticking "N s ago" ages, the
 * dashboard's live refresh (polls /monitor/live.json and swaps the server-rendered parts), clean
 * filter URLs, and the sign-in link (`#token=…`, read here so the token never reaches a server log).
 * `ago` mirrors shared/monitor/format.ts.
 */
export const js = `'use strict';
(function () {
  // Local time as 2026-01-31 18:05:09: unambiguous whatever the browser's locale.
  function two(n) { return (n < 10 ? '0' : '') + n; }
  function local(d) {
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' +
      two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  }
  function ago(ms) {
    var s = Math.round(ms / 1000);
    if (s < 0) return 'in the future';
    if (s < 120) return s + ' s ago';
    if (s < 7200) return Math.floor(s / 60) + ' min ago';
    if (s < 172800) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function localise(root) {
    var ts = root.querySelectorAll('time[datetime]');
    for (var i = 0; i < ts.length; i++) {
      var t = ts[i];
      var d = new Date(t.getAttribute('datetime'));
      if (isNaN(d.getTime())) continue;
      if (t.classList.contains('ago')) t.textContent = ago(Date.now() - d.getTime());
      else if (t.classList.contains('short')) {
        // Tables: the time of day, with the date only when it is not today.
        var now = new Date();
        var full = local(d);
        t.textContent = d.toDateString() === now.toDateString() ? full.slice(11)
          : d.getFullYear() === now.getFullYear() ? full.slice(5, 16) : full.slice(0, 10);
        t.title = full + ' (' + t.getAttribute('datetime') + ' UTC)';
      } else {
        t.textContent = local(d);
        t.title = t.getAttribute('datetime') + ' UTC';
      }
    }
  }
  function tick() {
    var ts = document.querySelectorAll('time.ago[datetime]');
    for (var i = 0; i < ts.length; i++) {
      var d = Date.parse(ts[i].getAttribute('datetime'));
      if (!isNaN(d)) ts[i].textContent = ago(Date.now() - d);
    }
  }
  localise(document);
  var tz = document.getElementById('tz');
  if (tz) tz.textContent = 'your local time (' + (Intl.DateTimeFormat().resolvedOptions().timeZone || 'browser zone') + ')';
  setInterval(tick, 1000);

  // Filter forms: leave empty fields out of the URL, so every filter URL is short and stable.
  var forms = document.querySelectorAll('form[data-clean]');
  for (var f = 0; f < forms.length; f++) {
    forms[f].addEventListener('submit', function (ev) {
      var els = ev.target.elements;
      for (var i = 0; i < els.length; i++) {
        var el = els[i];
        if (el.name && el.type !== 'checkbox' && el.value === '') el.disabled = true;
      }
    });
  }
  var autos = document.querySelectorAll('select[data-autosubmit]');
  for (var a = 0; a < autos.length; a++) {
    autos[a].addEventListener('change', function (ev) { ev.target.form.requestSubmit(); });
  }

  // Sign-in link: npm start prints /monitor/signin#token=…; the fragment never leaves the browser.
  var signin = document.querySelector('form[data-signin]');
  if (signin && location.hash.indexOf('#token=') === 0) {
    var tok = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, '', location.pathname + location.search);
    if (tok) {
      signin.elements.token.value = tok;
      signin.submit();
    }
  }

  // A running job's page reloads itself (its output tails arrive with heartbeats), while visible.
  var reloading = document.querySelector('[data-reload]');
  if (reloading) {
    var reloadMs = Number(reloading.getAttribute('data-reload')) * 1000;
    var reloadLater = function () {
      setTimeout(function () { if (document.hidden) reloadLater(); else location.reload(); }, reloadMs);
    };
    if (reloadMs > 0) reloadLater();
  }

  // Live dashboard: poll, swap the parts the server rendered, never overlap two requests.
  var live = document.querySelector('[data-live]');
  if (live) {
    var every = Number(live.getAttribute('data-refresh')) * 1000;
    var trend = live.getAttribute('data-trend') || '';
    var status = document.getElementById('live-status');
    var failures = 0;
    var poll = function () {
      if (document.hidden) return schedule();
      var u = live.getAttribute('data-live') + (trend ? '?trend=' + encodeURIComponent(trend) : '');
      fetch(u, { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (r) {
          if (r.status === 401) {
            location.href = '/monitor/signin?next=' + encodeURIComponent(location.pathname + location.search);
            throw new Error('signed out');
          }
          if (!r.ok) throw new Error('HTTP ' + r.status);
          return r.json();
        })
        .then(function (j) {
          failures = 0;
          trend = j.trend || '';
          var parts = j.parts || {};
          for (var k in parts) {
            var el = document.querySelector('[data-part="' + k + '"]');
            if (el) { el.innerHTML = parts[k]; localise(el); }
          }
          live.setAttribute('data-generated', j.generatedAt);
          if (status) {
            status.className = 'status';
            var t = document.createElement('time');
            t.className = 'ago';
            t.setAttribute('datetime', j.generatedAt);
            status.textContent = 'Updated ';
            status.appendChild(t);
            status.appendChild(document.createTextNode(', every ' + every / 1000 + ' s.'));
            localise(status);
          }
        })
        .catch(function (e) {
          failures++;
          if (status) {
            status.className = 'status error';
            status.textContent = 'Live refresh failed (' + e.message + '); retrying.';
          }
        })
        .then(schedule);
    };
    var schedule = function () { setTimeout(poll, Math.min(every * Math.pow(2, failures), 60000)); };
    if (every > 0) schedule();
  }
})();
`;

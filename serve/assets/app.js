// The dashboard's script: tiles, trade tape and time control from the JSON endpoints and the stream; the pictures
// are SVG drawn by the server (/v1/plot/*.svg). Live, the page follows /v1/stream; at a past time it asks the
// endpoints for that time, and "Back to live" returns to the stream.
(function () {
  'use strict';

  var HOUR = 3600000;
  var SESSION_MS = 24 * HOUR; // the window of the session plot and the heat map, ending at the time shown
  var TAPE_ROWS = 40;
  // Least time between two loads of a plot while live (the latest wanted one is loaded after).
  var PLOT_MIN_MS = { profile: 2000, session: 15000, heatmap: 15000 };

  var query = new URLSearchParams(location.search);
  var token = query.get('token');
  var state = {
    currency: (query.get('currency') || '').toUpperCase() || null,
    mode: 'live',
    lastLive: null, // the newest evaluation from the stream (top-level fields)
    range: null, // {first_ms, last_ms}
    gen: 0, // bumped whenever the page moves; answers for an older move are dropped
    tape: [], // trade events, newest first
    currencies: [],
    liveLoaded: false,
  };

  function $(id) {
    return document.getElementById(id);
  }

  function apiUrl(path, params) {
    var u = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
    });
    if (token) u.set('token', token);
    var s = u.toString();
    return s ? path + '?' + s : path;
  }

  function getJson(path, params) {
    return fetch(apiUrl(path, params), { cache: 'no-store' }).then(function (r) {
      return r.json().then(
        function (body) {
          if (!r.ok) throw new Error((body && body.error) || path + ': HTTP ' + r.status);
          return body;
        },
        function () {
          throw new Error(path + ': HTTP ' + r.status);
        }
      );
    });
  }

  function status(text, isError) {
    var el = $('status');
    el.textContent = text || '';
    el.classList.toggle('bad', !!isError);
  }

  // ---- formatting ----

  function price(v, digits) {
    return v.toLocaleString('en-US', { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 });
  }

  function usd(v) {
    var a = Math.abs(v);
    var units = [
      [1e12, 'T'],
      [1e9, 'B'],
      [1e6, 'M'],
      [1e3, 'k'],
    ];
    var sign = v < 0 ? '−' : '';
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) {
        var x = a / units[i][0];
        return sign + '$' + (x >= 100 ? x.toFixed(0) : x.toFixed(2)) + units[i][1];
      }
    }
    return sign + '$' + a.toFixed(0);
  }

  function level(v) {
    return price(v, 0);
  }

  function scenario(v) {
    return String(v).replace(/_/g, ' ');
  }

  function isoTime(ms) {
    return new Date(ms).toISOString().replace('.000Z', 'Z');
  }

  // ---- tiles ----

  var TILES = [
    ['tile-spot', 'spot', function (v) { return price(v, 2); }],
    ['tile-net-gex', 'net_gamma_exposure_usd', usd],
    ['tile-zero-gamma', 'zero_gamma_level', level],
    ['tile-call-wall', 'call_wall', level],
    ['tile-put-wall', 'put_wall', level],
    ['tile-ngi', 'ngi', usd],
    ['tile-vss', 'vss', usd],
    ['tile-chl24h', 'chl24h', usd],
    ['tile-volg', 'volg', usd],
    ['tile-hpp', 'hpp', usd],
    ['tile-dampening', 'dampening', usd],
    ['tile-scenario', 'scenario', scenario],
  ];

  function showReport(r) {
    TILES.forEach(function (t) {
      var el = $(t[0]);
      var v = r[t[1]];
      var missing = v === null || v === undefined;
      // data-value: the number exactly as received (the shortest text that reads back as the same double).
      el.dataset.value = missing ? 'null' : String(v);
      el.querySelector('.value').textContent = missing ? '—' : t[2](v);
      el.classList.toggle('pos', typeof v === 'number' && v > 0 && t[2] === usd);
      el.classList.toggle('neg', typeof v === 'number' && v < 0 && t[2] === usd);
    });
    $('sub-spot').textContent =
      r.expected_move_1d_usd === null || r.expected_move_1d_usd === undefined
        ? 'USD'
        : '1-day move ±' + price(r.expected_move_1d_usd, 0);
    $('sub-zero-gamma').textContent =
      r.zero_gamma_level === null || r.zero_gamma_level === undefined
        ? 'no flip in range'
        : (r.spot >= r.zero_gamma_level ? 'spot above by ' : 'spot below by ') +
          price(Math.abs(r.spot - r.zero_gamma_level), 0);
    $('sub-scenario').textContent = r.model ? 'model ' + r.model : '';
    var at = $('shown-at');
    at.textContent = r.at;
    at.dataset.atMs = String(r.at_ms);
    if (document.activeElement !== $('time-slider')) $('time-slider').value = String(r.at_ms);
  }

  // ---- plots ----

  var plots = {};

  // Asks for a plot; while live, loads are spaced by PLOT_MIN_MS and only the newest wish is loaded.
  function wantPlot(name, src, atMs, now) {
    var p = plots[name] || (plots[name] = { last: -1e12, loading: false, want: null, timer: null, objectUrl: null });
    p.want = { src: src, atMs: atMs, gen: state.gen };
    if (now) p.last = -1e12;
    pumpPlot(name);
  }

  function pumpPlot(name) {
    var p = plots[name];
    if (!p.want || p.loading) return;
    var wait = p.last + PLOT_MIN_MS[name] - performance.now();
    if (wait > 0) {
      if (!p.timer) {
        p.timer = setTimeout(function () {
          p.timer = null;
          pumpPlot(name);
        }, wait);
      }
      return;
    }
    var want = p.want;
    p.want = null;
    p.loading = true;
    p.last = performance.now();
    fetch(want.src, { cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) {
          return r.json().then(function (b) {
            throw new Error((b && b.error) || 'HTTP ' + r.status);
          });
        }
        return r.blob();
      })
      .then(function (blob) {
        if (want.gen !== state.gen) return;
        var img = $('plot-' + name);
        var url = URL.createObjectURL(blob);
        return new Promise(function (resolve) {
          img.onload = function () {
            img.dataset.atMs = String(want.atMs);
            img.dataset.src = want.src;
            if (p.objectUrl) URL.revokeObjectURL(p.objectUrl);
            p.objectUrl = url;
            resolve();
          };
          img.onerror = function () {
            URL.revokeObjectURL(url);
            status(name + ' plot: the picture could not be shown', true);
            resolve();
          };
          img.src = url;
        });
      })
      .catch(function (e) {
        if (want.gen === state.gen) status(name + ' plot: ' + e.message, true);
      })
      .then(function () {
        p.loading = false;
        pumpPlot(name);
      });
  }

  function refreshPlots(atMs, now, withSession) {
    var c = state.currency;
    wantPlot('profile', apiUrl('/v1/plot/profile.svg', { currency: c, at: atMs }), atMs, now);
    if (withSession) {
      // The server cuts the window to the log (and says so in the picture when it holds no sample time yet).
      var win = { currency: c, from: atMs - SESSION_MS, to: atMs };
      wantPlot('session', apiUrl('/v1/plot/session.svg', win), atMs, now);
      wantPlot('heatmap', apiUrl('/v1/plot/heatmap.svg', win), atMs, now);
    }
  }

  // ---- trade tape ----

  function mergeTrades(trades) {
    var seen = {};
    var all = state.tape.concat(trades).filter(function (t) {
      if (seen[t.seq]) return false;
      seen[t.seq] = true;
      return true;
    });
    all.sort(function (a, b) {
      return b.seq - a.seq;
    });
    state.tape = all.slice(0, TAPE_ROWS);
  }

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function renderTape(fresh) {
    var body = $('tape');
    var rows = document.createDocumentFragment();
    state.tape.forEach(function (t) {
      var tr = document.createElement('tr');
      tr.dataset.seq = String(t.seq);
      if (fresh && fresh[t.seq]) tr.className = 'fresh';
      cell(tr, t.at.slice(11, 19));
      cell(tr, t.instrument);
      cell(tr, t.taker_side, t.taker_side);
      cell(tr, String(t.amount), 'num');
      cell(tr, String(t.price), 'num');
      cell(tr, t.iv === null || t.iv === undefined ? '' : (t.iv * 100).toFixed(1) + '%', 'num');
      cell(tr, (t.dealer_position_change > 0 ? '+' : '') + t.dealer_position_change, 'num');
      cell(tr, usd(t.notional_usd), 'num');
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
    $('tape-count').textContent = state.tape.length
      ? state.mode === 'live'
        ? '(live, newest first)'
        : '(up to ' + $('shown-at').textContent + ')'
      : '(none in the 24 h before)';
  }

  function loadTape(atMs, gen) {
    var from = atMs - SESSION_MS;
    return getJson('/v1/trades', { currency: state.currency, from: from, to: atMs, limit: TAPE_ROWS }).then(
      function (trades) {
        if (gen !== state.gen) return;
        mergeTrades(trades);
        renderTape(null);
      }
    );
  }

  // ---- time control ----

  function setMode(mode) {
    state.mode = mode;
    document.body.dataset.mode = mode;
    var m = $('mode');
    m.textContent = mode === 'live' ? 'LIVE' : 'PAST';
    m.className = 'mode ' + mode;
    $('live-btn').disabled = mode === 'live';
  }

  function setRange(first, last) {
    if (!state.range) state.range = { first_ms: first, last_ms: last };
    state.range.first_ms = Math.min(state.range.first_ms, first);
    state.range.last_ms = Math.max(state.range.last_ms, last);
    var s = $('time-slider');
    s.min = String(state.range.first_ms);
    s.max = String(state.range.last_ms);
    $('range-label').textContent = 'log ' + isoTime(state.range.first_ms) + ' … ' + isoTime(state.range.last_ms);
  }

  function parseTime(text) {
    var s = text.trim();
    if (/^\d+$/.test(s)) return Number(s);
    // A time without a zone is UTC, as everywhere in dealerflow.
    if (/^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(s)) s = s.replace(' ', 'T') + 'Z';
    var ms = Date.parse(s);
    return isNaN(ms) ? null : ms;
  }

  // Moves the whole page to a past time of the log.
  function goTo(ms) {
    if (!state.currency) {
      status('nothing to show yet: the log is empty', true);
      return;
    }
    if (state.range) ms = Math.min(Math.max(ms, state.range.first_ms), state.range.last_ms);
    setMode('past');
    var gen = ++state.gen;
    status('loading ' + isoTime(ms) + '…');
    state.tape = [];
    Promise.all([
      getJson('/v1/gex', { currency: state.currency, at: ms }).then(function (r) {
        if (gen !== state.gen) return;
        showReport(r);
        refreshPlots(r.at_ms, true, true);
      }),
      loadTape(ms, gen),
    ])
      .then(function () {
        if (gen === state.gen) status('');
      })
      .catch(function (e) {
        if (gen === state.gen) status(e.message, true);
      });
  }

  function goLive() {
    setMode('live');
    var gen = ++state.gen;
    state.tape = [];
    renderTape(null);
    status('');
    var g = state.lastLive;
    if (!g) return;
    showReport(g);
    refreshPlots(g.at_ms, true, true);
    loadTape(g.at_ms, gen).catch(function (e) {
      if (gen === state.gen) status(e.message, true);
    });
  }

  function shownMs() {
    var v = Number($('shown-at').dataset.atMs);
    return isNaN(v) || !$('shown-at').dataset.atMs ? null : v;
  }

  // ---- the stream ----

  function addCurrency(c) {
    if (state.currencies.indexOf(c) >= 0) return;
    state.currencies.push(c);
    state.currencies.sort();
    var sel = $('currency');
    sel.replaceChildren();
    state.currencies.forEach(function (x) {
      var o = document.createElement('option');
      o.value = x;
      o.textContent = x;
      o.selected = x === state.currency;
      sel.appendChild(o);
    });
  }

  function onGex(g) {
    addCurrency(g.currency);
    if (!state.currency) state.currency = g.currency;
    if (g.currency !== state.currency) return;
    state.lastLive = g;
    setRange(state.range ? state.range.first_ms : g.at_ms, g.at_ms);
    if (!state.liveLoaded) {
      state.liveLoaded = true;
      getJson('/v1/range', {})
        .then(function (r) {
          setRange(r.first_ms, r.last_ms);
          r.currencies.forEach(addCurrency);
        })
        .catch(function (e) {
          status(e.message, true);
        });
      if (state.mode === 'live') {
        var gen = state.gen;
        loadTape(g.at_ms, gen).catch(function (e) {
          if (gen === state.gen) status(e.message, true);
        });
      }
    }
    if (state.mode !== 'live') return;
    showReport(g);
    refreshPlots(g.at_ms, false, true);
  }

  function onTrade(t) {
    addCurrency(t.currency);
    if (state.currency && t.currency !== state.currency) return;
    if (state.mode !== 'live') return;
    var fresh = {};
    fresh[t.seq] = true;
    mergeTrades([t]);
    renderTape(fresh);
  }

  function connect() {
    var es = new EventSource(apiUrl('/v1/stream', { currency: state.currency }));
    es.addEventListener('gex', function (e) {
      onGex(JSON.parse(e.data));
    });
    es.addEventListener('trade', function (e) {
      onTrade(JSON.parse(e.data));
    });
    es.addEventListener('alert', function (e) {
      var a = JSON.parse(e.data);
      status('alert: ' + (a.message || a.kind || e.data));
    });
    es.onopen = function () {
      $('conn').textContent = 'stream: connected';
      $('conn').className = 'conn up';
    };
    es.onerror = function () {
      $('conn').textContent = 'stream: reconnecting';
      $('conn').className = 'conn down';
    };
  }

  // ---- wiring ----

  $('time-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var ms = parseTime($('at-input').value);
    if (ms === null) {
      status('not a time: ' + $('at-input').value + ' (RFC 3339, e.g. 2026-08-17T06:00:00Z, or epoch ms)', true);
      return;
    }
    goTo(ms);
  });
  $('time-slider').addEventListener('input', function (e) {
    $('at-input').value = isoTime(Number(e.target.value));
  });
  $('time-slider').addEventListener('change', function (e) {
    goTo(Number(e.target.value));
  });
  $('step-back').addEventListener('click', function () {
    var ms = shownMs();
    if (ms !== null) goTo(ms - HOUR);
  });
  $('step-fwd').addEventListener('click', function () {
    var ms = shownMs();
    if (ms === null) return;
    if (state.range && ms + HOUR >= state.range.last_ms) goLive();
    else goTo(ms + HOUR);
  });
  $('live-btn').addEventListener('click', goLive);
  $('currency').addEventListener('change', function (e) {
    var q = new URLSearchParams(location.search);
    q.set('currency', e.target.value);
    location.search = q.toString();
  });
  if (state.currency) addCurrency(state.currency);
  setMode('live');
  renderTape(null);
  connect();
})();

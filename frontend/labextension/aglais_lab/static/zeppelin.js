/*
 * aglais-hub in Apache Zeppelin's pages (the Zeppelin flavour, aglais_lab/zeppelin.py
 * puts this script into every HTML page the proxy passes): the booking's package and
 * countdown, the warnings with Extend, the last notice, and Register for level-0 users.
 * It asks the same server extension as JupyterLab's status item (/aglais/status,
 * /aglais/extend), which decides what is due; this only shows it.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.aglaisZeppelin) {
    return;
  }
  var base = script.src.replace(/aglais\/static\/zeppelin\.js(\?.*)?$/, '');
  var state = { status: null, skew: 0, warned: null, last: false, endPolled: false, timer: 0, busy: false };
  var ui = {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  /** 0:09:58, as the JupyterLab status item writes it. */
  function formatLeft(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 3600) + ':' + pad(Math.floor((s % 3600) / 60)) + ':' + pad(s % 60);
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function minutesText(seconds) {
    var m = Math.max(1, Math.ceil(seconds / 60));
    return m === 1 ? '1 minute' : m + ' minutes';
  }

  function secondsLeft() {
    var status = state.status;
    if (!status || !status.end) {
      return null;
    }
    return (Date.parse(status.end) - (Date.now() + state.skew)) / 1000;
  }

  function build() {
    var style = el('style');
    style.textContent =
      '#aglais-zeppelin{position:fixed;left:12px;bottom:12px;z-index:100000;font:13px/1.4 sans-serif;' +
      'display:flex;flex-direction:column;gap:6px;align-items:flex-start;max-width:420px}' +
      '#aglais-booking-status{background:#f5f5f5;color:#222;border:1px solid #bbb;border-radius:4px;' +
      'padding:4px 8px;display:flex;gap:8px;align-items:center}' +
      '#aglais-booking-status.aglais-mod-warning{background:#ffe8b3;border-color:#e0a000}' +
      '#aglais-booking-status.aglais-mod-last{background:#ffd2d2;border-color:#c00}' +
      '#aglais-zeppelin button{font:inherit;cursor:pointer}' +
      '#aglais-zeppelin .aglais-notice{background:#fff;border:1px solid #e0a000;border-radius:4px;padding:6px 8px}' +
      '#aglais-zeppelin .aglais-notice.aglais-mod-last{border-color:#c00}' +
      '#aglais-zeppelin a.aglais-register{background:#337ab7;color:#fff;border-radius:4px;padding:4px 10px;' +
      'text-decoration:none}';
    var root = el('div');
    root.id = 'aglais-zeppelin';
    var item = el('div', 'aglais-booking');
    item.id = 'aglais-booking-status';
    item.setAttribute('role', 'status');
    item.hidden = true;
    ui.package = el('span', 'aglais-package');
    ui.countdown = el('span', 'aglais-countdown');
    ui.until = el('span', 'aglais-until');
    ui.extend = el('button', 'aglais-extend', 'Extend');
    ui.extend.type = 'button';
    ui.extend.hidden = true;
    ui.extend.addEventListener('click', extend);
    item.append(ui.package, ui.countdown, ui.until, ui.extend);
    ui.notice = el('div', 'aglais-notice');
    ui.notice.setAttribute('role', 'alert');
    ui.notice.hidden = true;
    ui.noticeText = el('span', 'aglais-notice-text');
    ui.noticeExtend = el('button', 'aglais-notice-extend');
    ui.noticeExtend.type = 'button';
    ui.noticeExtend.addEventListener('click', extend);
    ui.notice.append(ui.noticeText, document.createTextNode(' '), ui.noticeExtend);
    ui.register = el('a', 'aglais-register', 'Register');
    ui.register.target = '_blank';
    ui.register.rel = 'noopener';
    ui.register.title = 'Register an account: keep your work, book packages and get more time';
    ui.register.hidden = true;
    root.append(ui.notice, item, ui.register);
    ui.item = item;
    document.head.appendChild(style);
    document.body.appendChild(root);
  }

  function show(status) {
    if (status.end !== (state.status && state.status.end)) {
      state.warned = null; // a new end (extended): the warnings start over
      state.last = false;
      state.endPolled = false;
      ui.notice.hidden = true;
    }
    state.status = status;
    if (status.now) {
      state.skew = Date.parse(status.now) - Date.now();
    }
    var level0 = status.hub && status.level === 0 && status.register_url;
    ui.register.hidden = !level0;
    if (level0) {
      ui.register.href = status.register_url;
    }
    if (!status.hub || !status.booking_service || !status.package) {
      ui.item.hidden = true;
      return;
    }
    ui.package.textContent = status.package;
    ui.item.dataset.end = status.end || '';
    ui.item.dataset.kind = status.kind || '';
    ui.until.textContent = status.end ? 'until ' + clock(status.end) : '';
    ui.item.title = status.end
      ? 'Your booking of ' + status.package + (status.pool ? ' on ' + status.pool : '') +
        ' ends at ' + new Date(status.end).toLocaleString() + '.'
      : status.package + ': a walk-in server, without a booking.';
    ui.noticeExtend.textContent = 'Extend by ' + (status.extend_minutes || 30) + ' min';
    ui.item.hidden = false;
    tick();
  }

  function notice(text, last) {
    ui.noticeText.textContent = text;
    ui.notice.classList.toggle('aglais-mod-last', !!last);
    ui.notice.hidden = false;
  }

  function tick() {
    var status = state.status;
    if (!status || ui.item.hidden) {
      return;
    }
    var left = secondsLeft();
    if (left === null) {
      ui.countdown.textContent = status.kind === 'walk-in' ? 'walk-in' : '';
      ui.extend.hidden = true;
      ui.item.classList.remove('aglais-mod-warning', 'aglais-mod-last');
      return;
    }
    ui.countdown.textContent = left > 0 ? formatLeft(left) + ' left' : 'booking ended';
    var last = left <= (status.last_notice_seconds || 120);
    var warned = !!status.warning || last;
    ui.item.classList.toggle('aglais-mod-warning', warned && !last);
    ui.item.classList.toggle('aglais-mod-last', last);
    ui.extend.hidden = !warned;
    if (left <= 0) {
      if (!state.endPolled) {
        state.endPolled = true; // ask once at the end: extended meanwhile, or stopping
        poll();
      }
      return;
    }
    if (last && !state.last) {
      state.last = true;
      notice('Your booking of ' + status.package + ' ends at ' + clock(status.end) +
        ': the server will be stopped in ' + minutesText(left) + '. Save your work now.', true);
    } else if (!last && status.warning && status.warning !== state.warned) {
      state.warned = status.warning;
      notice('Your booking of ' + status.package + ' ends in ' + minutesText(left) + ', at ' +
        clock(status.end) + '. Then the server will be stopped.', false);
    }
  }

  /**
   * The server's XSRF token goes with every request, GET too, as JupyterLab's request
   * helper sends it: a single-user server refuses cookie-authenticated API requests
   * without it (JupyterHub's XSRF protection, not only for POST).
   */
  function request(path, init) {
    var headers = Object.assign({ 'X-XSRFToken': xsrf() }, (init && init.headers) || {});
    return fetch(base + 'aglais/' + path,
      Object.assign({ credentials: 'same-origin', cache: 'no-store' }, init, { headers: headers }))
      .then(function (response) {
        return response.json().catch(function () {
          return { message: 'The server answered ' + response.status + '.' };
        }).then(function (data) {
          return { ok: response.ok, status: response.status, data: data };
        });
      });
  }

  /** Ask the server again; keep what we had if it fails (it may be restarting). */
  function poll() {
    window.clearTimeout(state.timer);
    var every = (state.status && state.status.poll_seconds) || 30;
    return request('status').then(function (answer) {
      if (answer.ok) {
        show(answer.data);
        every = answer.data.poll_seconds || every;
        if (!answer.data.hub || answer.data.booking_service === false) {
          return; // nothing will change while this server runs
        }
      } else if (answer.status === 404) {
        return; // the server extension is not enabled
      }
      state.timer = window.setTimeout(poll, every * 1000);
    }, function () {
      state.timer = window.setTimeout(poll, every * 1000);
    });
  }

  function xsrf() {
    var match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  function extend() {
    if (state.busy) {
      return;
    }
    state.busy = true;
    ui.extend.disabled = ui.noticeExtend.disabled = true;
    ui.extend.textContent = 'Extending…';
    request('extend', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}'
    }).then(function (answer) {
      if (answer.ok) {
        show(answer.data);
        notice('Your booking now ends at ' + clock(answer.data.end) + '.', false);
      } else {
        notice('The booking was not extended: ' + (answer.data.message || 'the server answered ' + answer.status + '.'),
          false);
      }
    }, function (error) {
      notice('The booking was not extended: the server did not answer (' + error + ').', false);
    }).then(function () {
      state.busy = false;
      ui.extend.disabled = ui.noticeExtend.disabled = false;
      ui.extend.textContent = 'Extend';
    });
  }

  function start() {
    build();
    poll();
    window.setInterval(tick, 1000);
  }

  window.aglaisZeppelin = { poll: poll, formatLeft: formatLeft };
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();

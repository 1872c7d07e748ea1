// Shared helpers. Every value from the API is written with textContent, never as HTML.
"use strict";
var PB = (function () {
  var root = document.body.dataset.root || "./";
  function api(path) {
    return fetch(root + "api/v1/" + path, { credentials: "same-origin", cache: "no-cache" })
      .then(function (r) {
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            var err = new Error(body.error || ("HTTP " + r.status));
            err.status = r.status;
            throw err;
          });
        }
        return r.json();
      });
  }
  // Bidirectional controls (embeddings, overrides, isolates, marks) reorder what follows
  // them, so a name could display as another: shown as U+FFFD. Links keep the real name.
  // The server does the same for the names it renders (bot/web/pages.py, BIDI_CONTROLS).
  var BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  function shown(name) { return String(name).replace(BIDI, "\ufffd"); }
  function fin(x) { return typeof x === "number" && isFinite(x); }
  function pct(x, digits) {
    if (!fin(x)) return "—";
    if (Math.abs(x) >= 10000) return (x > 0 ? "+" : "") + x.toPrecision(3) + "%";
    var text = x.toFixed(digits);
    // A tiny negative rounds to "-0.000": show it unsigned, as the zero it reads as.
    if (Number(text) === 0) return "+" + Math.abs(x).toFixed(digits) + "%";
    return (x > 0 ? "+" : "") + text + "%";
  }
  function num(x) {
    if (!fin(x)) return "—";
    var a = Math.abs(x);
    if (a >= 1000) return x.toLocaleString("en-US", { maximumFractionDigits: 2 });
    if (a >= 1) return x.toFixed(4);
    if (a === 0) return "0";
    return x.toPrecision(5);
  }
  function usd(x) {
    if (!fin(x)) return "—";
    var a = Math.abs(x), sign = x < 0 ? "-$" : "$";  // below zero only on a chart's axis
    if (a >= 1e9) return sign + (a / 1e9).toFixed(2) + "B";
    if (a >= 1e6) return sign + (a / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return sign + Math.round(a / 1e3) + "k";
    if (a >= 1e3) return sign + (a / 1e3).toFixed(1) + "k";
    return sign + Math.round(a);
  }
  function age(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 90) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 90) return m + " min";
    var h = Math.floor(m / 60);
    if (h < 48) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d";
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function signClass(x) { return fin(x) ? (x > 0 ? "pos" : (x < 0 ? "neg" : "")) : ""; }
  function status(message) {
    var box = document.getElementById("status");
    if (!box) return;
    box.hidden = !message;
    box.textContent = message || "";
  }
  // Data age in the header, ticking every second; `generatedAt` is an ISO time.
  var generated = null;
  function setGenerated(iso) { generated = iso ? Date.parse(iso) : null; tick(); }
  function tick() {
    var box = document.getElementById("age");
    if (!box) return;
    box.textContent = generated === null ? "no data yet" : "data " + age(Date.now() - generated) + " old";
  }
  setInterval(tick, 1000);
  // Calls `onNew(cycleId)` whenever /api/v1/latest names a cycle other than the last seen.
  function watchCycles(onNew, everyMs) {
    var last = null;
    function poll() {
      api("latest").then(function (d) {
        if (d.cycle_id !== null && d.cycle_id !== last) {
          last = d.cycle_id;
          onNew(d.cycle_id);
        }
      }).catch(function () { /* the next poll tries again */ });
    }
    poll();
    return setInterval(poll, everyMs || 5000);
  }
  return { root: root, api: api, shown: shown, pct: pct, num: num, usd: usd, el: el, fin: fin, signClass: signClass,
    status: status, setGenerated: setGenerated, watchCycles: watchCycles };
})();

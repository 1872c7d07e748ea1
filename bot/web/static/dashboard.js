// The ranked table: fetched from /api/v1/top, sorted, filtered and searched in the
// browser, refreshed when /api/v1/latest names a new cycle. State lives in the URL hash
// (#filter=squeeze&sort=oi_24h_pct&dir=desc), so a filtered view can be shared.
"use strict";
(function () {
  var SQUEEZE = { "Long squeeze risk": true, "Short squeeze risk": true };  // stored ids
  // What the table shows for a regime: the regime select's option text (the server's
  // bot/scoring/explain.py REGIME_LABEL); the stored id where no label differs.
  var LABEL = {};
  Array.prototype.forEach.call(document.querySelectorAll("#regime option"), function (o) {
    if (o.value) LABEL[o.value] = o.textContent;
  });
  var TEXT_KEYS = { symbol: true, band: true, bias: true, regime: true };
  var BAND_RANK = { neutral: 0, lean: 1, stretched: 2, stressed: 3 };
  var state = { filter: "all", band: "", regime: "", q: "", sort: "score", dir: "desc", venue: "" };
  var venueSelect = document.getElementById("venue");  // only with several venues
  var rows = [];
  var body = document.querySelector("#market tbody");

  function readHash() {
    var h = new URLSearchParams(location.hash.slice(1));
    Object.keys(state).forEach(function (k) { if (h.has(k)) state[k] = h.get(k); });
  }
  function writeHash() {
    var h = new URLSearchParams();
    Object.keys(state).forEach(function (k) { if (state[k]) h.set(k, state[k]); });
    history.replaceState(null, "", "#" + h.toString());
  }

  function keep(r) {
    if (state.filter === "long" && r.bias !== "LONG") return false;
    if (state.filter === "short" && r.bias !== "SHORT") return false;
    if (state.filter === "squeeze" && !SQUEEZE[r.regime]) return false;
    if (state.filter === "liq" && !(r.liq_1h_usd > 0)) return false;
    if (state.band && r.band !== state.band) return false;
    if (state.regime && r.regime !== state.regime) return false;
    if (state.q && r.symbol.toUpperCase().indexOf(state.q.toUpperCase()) < 0) return false;
    return true;
  }
  function value(r, key) {
    if (key === "band") return BAND_RANK[r.band];
    return r[key];
  }
  function compare(a, b) {
    var k = state.sort, va = value(a, k), vb = value(b, k), sign = state.dir === "asc" ? 1 : -1;
    // Unknown values (null) sort last whichever the direction.
    if (va === null || va === undefined) return (vb === null || vb === undefined) ? a.rank - b.rank : 1;
    if (vb === null || vb === undefined) return -1;
    if (va < vb) return -sign;
    if (va > vb) return sign;
    return a.rank - b.rank;
  }

  function cell(tr, text, cls) { tr.appendChild(PB.el("td", text, cls)); }
  function row(r) {
    var tr = document.createElement("tr");
    tr.dataset.symbol = r.symbol;
    cell(tr, r.rank, "num rank");
    // The symbol: shown safely (PB.shown), cut with an ellipsis by the stylesheet when
    // long (the whole name in the tooltip), linked by its real name, URL-encoded.
    var td = PB.el("td", null, "sym");
    var a = PB.el("a", PB.shown(r.symbol));
    a.title = PB.shown(r.symbol);
    a.href = PB.root + "symbol/" + encodeURIComponent(r.symbol) +
      (state.venue ? "?exchange=" + encodeURIComponent(state.venue) : "");
    td.appendChild(a);
    tr.appendChild(td);
    cell(tr, r.score, "num score");
    var band = document.createElement("td");
    band.appendChild(PB.el("span", r.band, "band band-" + r.band));
    tr.appendChild(band);
    cell(tr, r.bias, "bias-" + r.bias);
    cell(tr, LABEL[r.regime] || r.regime, "regime");
    cell(tr, PB.pct(r.oi_1h_pct, 2), "num " + PB.signClass(r.oi_1h_pct));
    cell(tr, PB.pct(r.oi_4h_pct, 2), "num " + PB.signClass(r.oi_4h_pct));
    cell(tr, PB.pct(r.oi_24h_pct, 1), "num " + PB.signClass(r.oi_24h_pct));
    var f = PB.el("td", PB.pct(r.funding_pct, 3), "num");
    f.title = "per " + r.funding_interval_hours + "h";
    tr.appendChild(f);
    cell(tr, PB.pct(r.funding_8h_pct, 3), "num");
    cell(tr, PB.pct(r.basis_pct, 2), "num " + PB.signClass(r.basis_pct));
    var liq = PB.el("td", PB.usd(r.liq_1h_usd), "num");
    if (r.liq_1h_usd !== null) {
      liq.title = "longs " + PB.usd(r.liq_1h_long_usd) + " · shorts " + PB.usd(r.liq_1h_short_usd) +
        (PB.fin(r.liq_1h_oi_pct) ? " · " + r.liq_1h_oi_pct.toFixed(2) + "% of OI" : "") +
        (r.liq_coverage_1h < 0.99 ? " · stream live " + Math.round(r.liq_coverage_1h * 100) + "% of the hour" : "");
    }
    tr.appendChild(liq);
    return tr;
  }

  function render() {
    var shown = rows.filter(keep).sort(compare);
    var frag = document.createDocumentFragment();
    shown.forEach(function (r) { frag.appendChild(row(r)); });
    body.replaceChildren(frag);
    document.getElementById("count").textContent = shown.length + " of " + rows.length + " symbols";
    document.querySelectorAll("#market th").forEach(function (th) {
      th.classList.toggle("sorted-asc", th.dataset.key === state.sort && state.dir === "asc");
      th.classList.toggle("sorted-desc", th.dataset.key === state.sort && state.dir === "desc");
    });
    document.querySelectorAll(".filters button").forEach(function (b) {
      b.classList.toggle("on", b.dataset.filter === state.filter);
    });
    document.getElementById("band").value = state.band;
    if (venueSelect) venueSelect.value = state.venue || document.body.dataset.exchange;
    document.getElementById("regime").value = state.regime;
    writeHash();
  }

  function summary(doc) {
    var s = doc.summary;
    document.getElementById("avg").textContent = Math.round(s.avg_score);
    document.getElementById("long").textContent = s.long;
    document.getElementById("short").textContent = s.short;
    document.getElementById("neutral").textContent = s.neutral;
    document.getElementById("symbols").textContent = s.symbols;
    PB.setGenerated(doc.generated_at);
    document.body.dataset.cycle = doc.cycle.id;
    PB.status(doc.cycle.status === "ok" ? "" : doc.cycle.failed ?
      "Partial scan: " + doc.cycle.failed + " symbols failed to fetch this cycle." :
      "Partial: a venue did not answer this cycle; no alert from the rows it is missing from.");
  }

  function load() {
    var query = state.venue ? "?exchange=" + encodeURIComponent(state.venue) : "";
    return PB.api("top" + query).then(function (doc) {
      rows = doc.rows.map(function (r, i) {
        r.rank = i + 1;
        // Longs and shorts together, for the column and its sort; null without a stream.
        r.liq_1h_usd = r.liq_1h_long_usd === null ? null : r.liq_1h_long_usd + r.liq_1h_short_usd;
        return r;
      });
      summary(doc);
      render();
    }).catch(function (err) {
      PB.status(err.status === 404 ? "No cycle has been scored yet: the table appears after the first one."
        : "Could not load the table (" + err.message + "); retrying at the next cycle.");
    });
  }

  document.querySelectorAll("#market th").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.dataset.key;
      if (state.sort === key) state.dir = state.dir === "asc" ? "desc" : "asc";
      else { state.sort = key; state.dir = TEXT_KEYS[key] || key === "rank" ? "asc" : "desc"; }
      render();
    });
  });
  document.querySelectorAll(".filters button").forEach(function (b) {
    b.addEventListener("click", function () { state.filter = b.dataset.filter; render(); });
  });
  document.getElementById("band").addEventListener("change", function (e) { state.band = e.target.value; render(); });
  document.getElementById("regime").addEventListener("change", function (e) { state.regime = e.target.value; render(); });
  if (venueSelect) {
    venueSelect.addEventListener("change", function (e) {
      // The default view needs no parameter: its table is the cached one.
      state.venue = e.target.value === document.body.dataset.exchange ? "" : e.target.value;
      load();
    });
  }
  var search = document.getElementById("search");
  search.addEventListener("input", function () { state.q = search.value.trim(); render(); });

  readHash();
  search.value = state.q;
  PB.watchCycles(load, 5000);
})();

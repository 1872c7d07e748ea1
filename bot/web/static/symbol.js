// One symbol: the card (as Telegram's /symbol shows it) and its charts over 24h, 72h or
// 30 days, all from /api/v1/symbol/{SYMBOL}; refreshed when a new cycle lands.
"use strict";
(function () {
  var symbol = document.body.dataset.symbol;
  var range = "72h";
  var BAND_COLOR = { neutral: "#e8f5e9", lean: "#fff8e1", stretched: "#ffe0b2", stressed: "#ffcdd2" };
  var last = null;

  function set(id, text, cls) {
    var e = document.getElementById(id);
    e.textContent = text;
    if (cls !== undefined) e.className = cls;
  }

  // A long/short ratio and the long share it means: 1.50 (60% long).
  function ratio(v) {
    return PB.fin(v) ? v.toFixed(2) + " (" + Math.round(v / (1 + v) * 100) + "% long)" : "—";
  }

  function card(doc) {
    var r = doc.row;
    document.title = PB.shown(r.symbol) + " · " + r.score + " · pressurebot";
    set("sym", PB.shown(r.symbol));
    document.getElementById("sym").title = PB.shown(r.symbol);
    set("venue", doc.exchange === "all" ? "all venues" : doc.exchange + " perp");
    set("score", r.score);
    set("band", r.band, "band band-" + r.band);
    var range = doc.bands[r.band];
    set("band-range", range ? "(" + range[0] + "-" + range[1] + ")" : "");
    set("bias", r.bias, "bias bias-" + r.bias);
    set("regime", doc.regime_label || r.regime);
    set("regime-why", doc.regime_why);
    set("unusual", doc.unusual);
    set("evidence", doc.evidence);
    set("lookalike", doc.lookalike ? "🔁 " + doc.lookalike : "");
    set("oi_1h_pct", PB.pct(r.oi_1h_pct, 2), "num " + PB.signClass(r.oi_1h_pct));
    set("oi_4h_pct", PB.pct(r.oi_4h_pct, 2), "num " + PB.signClass(r.oi_4h_pct));
    set("oi_24h_pct", PB.pct(r.oi_24h_pct, 2), "num " + PB.signClass(r.oi_24h_pct));
    set("funding", PB.pct(r.funding_pct, 4) + " per " + r.funding_interval_hours + "h");
    set("funding_8h_pct", PB.pct(r.funding_8h_pct, 4));
    set("basis_pct", PB.pct(r.basis_pct, 3), "num " + PB.signClass(r.basis_pct));
    set("oi_contracts", PB.num(r.oi_contracts) + " contracts");
    set("prices", PB.num(r.mark_price) + " / " + PB.num(r.index_price));
    set("ls_account_ratio", ratio(r.ls_account_ratio));
    set("ls_top_position_ratio", ratio(r.ls_top_position_ratio));
    var why = document.getElementById("why");
    why.replaceChildren();
    var names = { oi: "OI build", funding: "Funding", basis: "Basis" };
    doc.why.forEach(function (p) {
      why.appendChild(PB.el("li", names[p.part] + " " + Math.round(p.strength * 100) + "% → " +
        Math.round(p.points) + " pts: " + p.reason));
    });
    PB.setGenerated(doc.generated_at);
    PB.status(r.partial ? "Partial: a venue did not answer this cycle; no alert from this row." :
      doc.cycle && doc.cycle.failed ? "Partial scan: some symbols failed to fetch this cycle." : "");
  }

  function panels(doc) {
    var s = doc.series;
    var bands = Object.keys(doc.bands).map(function (name) {
      var b = doc.bands[name];
      return { lo: b[0], hi: name === "stressed" ? b[1] : b[1] + 1, name: name, color: BAND_COLOR[name] || "#eee" };
    });
    var p2 = function (v) { return PB.pct(v, 2); };
    var p3 = function (v) { return PB.pct(v, 3); };
    return [
      { id: "score", title: "Score", series: [{ label: "score", values: s.score, color: "#1a237e" }],
        bands: bands, yMin: 0, yMax: 100, ticks: "int", fmt: function (v) { return PB.fin(v) ? String(Math.round(v)) : "—"; } },
      { id: "oi", title: "Open interest (contracts)", series: [{ label: "OI", values: s.oi_contracts, color: "#344054" }],
        fmt: PB.num },
    ].concat(s.liq_long_usd ? [
      // Per interval between points; Binance's part is a sample (one per symbol per second).
      { id: "liquidations", title: "Liquidations per interval (USD)", zero: true, fmt: PB.usd, series: [
        { label: "longs", values: s.liq_long_usd, color: "#b42318" },
        { label: "shorts", values: s.liq_short_usd, color: "#067647" }] },
    ] : []).concat([
      { id: "oi_change", title: "OI change", zero: true, ticks: "pct", fmt: p2, series: [
        { label: "1h", values: s.oi_1h_pct, color: "#7f56d9" },
        { label: "4h", values: s.oi_4h_pct, color: "#dc6803" },
        { label: "24h", values: s.oi_24h_pct, color: "#067647" }] },
      { id: "funding", title: "Funding per 8h and basis", zero: true, ticks: "pct", fmt: p3, series: [
        { label: "funding 8h", values: s.funding_8h_pct, color: "#b42318" },
        { label: "basis", values: s.basis_pct, color: "#1570ef" }] },
      { id: "price", title: "Mark price", series: [{ label: "mark", values: s.mark_price, color: "#101828" }],
        fmt: PB.num },
    ]);
  }

  function readout(doc) {
    return function (i, hovering) {
      var t = new Date(doc.series.t[i]).toISOString().replace("T", " ").slice(0, 16) + " UTC";
      document.getElementById("readout").textContent = (hovering ? "" : "latest · ") + t;
    };
  }

  // `sameSpan`: a refresh of the range shown (a new cycle), which keeps a zoom.
  function load(sameSpan) {
    var venue = new URLSearchParams(location.search).get("exchange");
    var query = "?range=" + range + (venue ? "&exchange=" + encodeURIComponent(venue) : "");
    return PB.api("symbol/" + encodeURIComponent(symbol) + query).then(function (doc) {
      last = doc;
      card(doc);
      PBChart.draw(document.getElementById("charts"), doc.series.t, panels(doc), readout(doc), sameSpan);
      document.body.dataset.loaded = doc.range;
      document.body.dataset.cycle = doc.cycle ? doc.cycle.id : "";
    }).catch(function (err) {
      PB.status(err.status === 404 ? "No score stored for this symbol: check the spelling, or wait for a cycle."
        : "Could not load this symbol (" + err.message + ").");
    });
  }

  document.querySelectorAll(".range button").forEach(function (b) {
    b.addEventListener("click", function () {
      range = b.dataset.range;
      document.querySelectorAll(".range button").forEach(function (o) { o.classList.toggle("on", o === b); });
      load(false);
    });
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (last) PBChart.draw(document.getElementById("charts"), last.series.t, panels(last), readout(last), true); }, 150);
  });
  PB.watchCycles(function () { load(true); }, 5000);
})();

// The symbol page's charts: one uPlot chart per panel (bot/web/static/vendor/uplot,
// MIT), all on one time axis. uPlot picks the tick steps (1, 2, 5 x 10^n and whole
// hours or days), spaces labels so they never overlap, and gives the crosshair and
// drag-to-zoom; this file only says what to draw and how to word a tick. The panels
// share the cursor (uPlot's sync) and the zoom (the setScale hook below); a
// double-click zooms back out. Times are UTC, as the readout says.
"use strict";
var PBChart = (function () {
  var SYNC = "pb-symbol";
  var HEIGHT = 150, PHONE_HEIGHT = 125, AXIS_WIDTH = 56;
  var FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var charts = [];

  function pad2(n) { return String(n).padStart(2, "0"); }
  // Decimals a tick step needs: 0.25 -> 2, 5 -> 0.
  function decimals(step) {
    return Math.min(8, Math.max(0, -Math.floor(Math.log10(Math.abs(step) || 1) + 1e-9)));
  }
  // Tick words, from the step between ticks: every label of an axis looks alike.
  var ticks = {
    int: function (v) { return String(Math.round(v)); },
    pct: function (v, step) {
      var d = decimals(step), text = v.toFixed(d);
      if (Number(text) === 0) return "0%";
      return (v > 0 ? "+" : "") + text + "%";
    },
    num: function (v, step) {
      var a = Math.max(Math.abs(v), Math.abs(step));
      var unit = a >= 1e9 ? [1e9, "B"] : a >= 1e6 ? [1e6, "M"] : a >= 1e4 ? [1e3, "k"] : [1, ""];
      return (v / unit[0]).toLocaleString("en-US", {
        minimumFractionDigits: decimals(step / unit[0]), maximumFractionDigits: decimals(step / unit[0]),
      }) + unit[1];
    },
  };
  // "14:00" within a day, "12-05" at midnight and when the ticks are days apart.
  function timeTicks(u, splits, axis, space, step) {
    return splits.map(function (s) {
      if (s === null) return null;  // a tick uPlot filtered out
      var d = new Date(s * 1000);
      var midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
      if (step >= 86400 || midnight) return pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate());
      return pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
    });
  }

  function yRange(panel) {
    if (panel.yMin !== undefined) return [panel.yMin, panel.yMax];
    return function (u, lo, hi) {
      if (lo === null || hi === null) return [0, 1];  // nothing known in view
      if (panel.zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
      return uPlot.rangeNum(lo, hi, 0.1, true);
    };
  }
  // The score bands: shaded stripes behind everything (drawClear), each named in its
  // top right corner over the grid but under the line (drawAxes), when it has room.
  function bandStripes(bands) {
    return function (u) {
      bands.forEach(function (b) {
        var top = u.valToPos(b.hi, "y", true), bottom = u.valToPos(b.lo, "y", true);
        u.ctx.fillStyle = b.color;
        u.ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
      });
    };
  }
  function bandNames(bands) {
    return function (u) {
      var ctx = u.ctx, px = uPlot.pxRatio;
      ctx.save();
      ctx.font = FONT.replace("11px", Math.round(10 * px) + "px");
      ctx.textAlign = "right";
      ctx.textBaseline = "top";
      ctx.fillStyle = "#7a8494";
      bands.forEach(function (b) {
        var top = u.valToPos(b.hi, "y", true), bottom = u.valToPos(b.lo, "y", true);
        if (bottom - top >= 13 * px) ctx.fillText(b.name, u.bbox.left + u.bbox.width - 4 * px, top + 2 * px);
      });
      ctx.restore();
    };
  }

  function options(panel, width, state) {
    var step = ticks[panel.ticks || "num"];
    var hooks = {
      setScale: [function (u, key) { if (key === "x") state.zoom(u); }],
      setCursor: [function (u) {
        // Away from the charts the legend shows the latest values, not dashes.
        if (u.cursor.idx === null || u.cursor.idx === undefined) u.setLegend({ idx: state.last });
        state.hover(u.cursor.idx);
      }],
    };
    if (panel.bands) {
      hooks.drawClear = [bandStripes(panel.bands)];
      hooks.drawAxes = [bandNames(panel.bands)];
    }
    return {
      width: width,
      height: width < 520 ? PHONE_HEIGHT : HEIGHT,
      tzDate: function (s) { return uPlot.tzDate(new Date(s * 1000), "Etc/UTC"); },
      cursor: { sync: { key: SYNC }, drag: { x: true, y: false }, points: { size: 6 } },
      legend: { live: true },
      scales: {
        x: { time: true, range: function (u, lo, hi) { return lo === hi ? [lo - 3600, hi + 3600] : [lo, hi]; } },
        y: { range: yRange(panel) },
      },
      axes: [
        { font: FONT, space: 64, size: 28, gap: 4, values: timeTicks, grid: { stroke: "#eaecf0" }, ticks: { show: false } },
        { font: FONT, size: AXIS_WIDTH, gap: 4, grid: { stroke: "#eaecf0" }, ticks: { show: false },
          values: function (u, splits, axis, space, incr) { return splits.map(function (v) { return step(v, incr); }); } },
      ],
      series: [{ label: "time", value: function () { return ""; } }].concat(panel.series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 1.6, spanGaps: false,
          value: function (u, v) { return panel.fmt(v); } };
      })),
      hooks: hooks,
    };
  }

  // Draws `panels` into `box` (emptied first); `onHover(index, hovering)` gets the
  // point under the cursor, or the latest when the cursor leaves. `keepZoom`: a redraw
  // of the same span (a new cycle, a resize) keeps the time range the user zoomed into.
  function draw(box, t, panels, onHover, keepZoom) {
    var kept = keepZoom ? zoomed() : null;
    charts.forEach(function (u) { u.destroy(); });
    charts = [];
    box.replaceChildren();
    if (!t.length) { box.appendChild(PB.el("p", "Not enough history for a chart yet.", "muted")); return; }
    var xs = t.map(function (ms) { return ms / 1000; });
    var last = t.length - 1, zooming = false, lastShown = null;
    var state = {
      last: last,
      // One zoom for every panel: the x range of the one zoomed, or the reset.
      zoom: function (from) {
        if (zooming) return;
        zooming = true;
        var x = from.scales.x;
        charts.forEach(function (u) { if (u !== from) u.setScale("x", { min: x.min, max: x.max }); });
        zooming = false;
      },
      // Every synced panel reports the same index: tell the page once per change.
      hover: function (idx) {
        var shown = idx === null || idx === undefined ? null : idx;
        if (shown === lastShown) return;
        lastShown = shown;
        if (onHover) onHover(shown === null ? last : shown, shown !== null);
      },
    };
    var width = Math.max(260, Math.floor(box.clientWidth || 800));
    panels.forEach(function (panel) {
      var div = PB.el("div", null, "panel");
      div.dataset.panel = panel.id;
      div.appendChild(PB.el("div", panel.title, "title"));
      box.appendChild(div);
      var data = [xs].concat(panel.series.map(function (s) { return s.values; }));
      var u = new uPlot(options(panel, width, state), data, div);
      u.setLegend({ idx: last });
      charts.push(u);
    });
    if (kept && charts.length) charts[0].setScale("x", { min: kept[0], max: kept[1] });
    if (onHover) onHover(last, false);
  }
  // The zoomed-in x range, or null when the charts show all their data.
  function zoomed() {
    var u = charts[0];
    if (!u || !u.data[0].length) return null;
    var xs = u.data[0], x = u.scales.x;
    return x.min > xs[0] || x.max < xs[xs.length - 1] ? [x.min, x.max] : null;
  }
  return { draw: draw, charts: function () { return charts; } };
})();

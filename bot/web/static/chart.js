// Small SVG line charts on one shared time axis, with a cursor that follows the mouse
// across every panel. Our own ~150 lines instead of a chart library: four panels of at
// most 720 points need no more, and nothing has to be vendored. Values are drawn as
// geometry and written with textContent only.
"use strict";
var PBChart = (function () {
  var NS = "http://www.w3.org/2000/svg";
  var H = 150, M = { l: 62, r: 10, t: 8, b: 18 };

  function svgEl(tag, attrs, cls) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (cls) e.setAttribute("class", cls);
    return e;
  }
  function extent(panel) {
    if (panel.yMin !== undefined) return [panel.yMin, panel.yMax];
    var lo = Infinity, hi = -Infinity;
    panel.series.forEach(function (s) {
      s.values.forEach(function (v) { if (PB.fin(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    });
    if (lo === Infinity) return [0, 1];
    if (panel.zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    var pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }
  function timeLabel(ms, span) {
    var d = new Date(ms), p = function (n) { return String(n).padStart(2, "0"); };
    if (span > 4 * 86400000) return p(d.getUTCMonth() + 1) + "-" + p(d.getUTCDate());
    return p(d.getUTCDate()) + " " + p(d.getUTCHours()) + ":" + p(d.getUTCMinutes());
  }
  function path(t, values, x, y) {
    var d = "", pen = false;
    for (var i = 0; i < t.length; i++) {
      var v = values[i];
      if (!PB.fin(v)) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t[i]).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    }
    return d;
  }

  function drawPanel(box, t, panel, W) {
    var div = PB.el("div", null, "panel");
    div.dataset.panel = panel.id;
    var title = PB.el("div", null, "title");
    title.appendChild(PB.el("b", panel.title));
    var keys = panel.series.map(function (s) {
      var k = PB.el("span", s.label, "key");
      k.style.color = s.color;
      title.appendChild(k);
      return k;
    });
    div.appendChild(title);
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": panel.title });
    var t0 = t[0], t1 = t[t.length - 1], span = Math.max(1, t1 - t0);
    var ext = extent(panel), y0 = ext[0], y1 = ext[1];
    var x = function (ms) { return M.l + (ms - t0) / span * (W - M.l - M.r); };
    var y = function (v) { return H - M.b - (v - y0) / (y1 - y0) * (H - M.t - M.b); };
    (panel.bands || []).forEach(function (b) {
      var top = y(Math.min(b.hi, y1)), bottom = y(Math.max(b.lo, y0));
      svg.appendChild(svgEl("rect", { x: M.l, y: top, width: W - M.l - M.r, height: Math.max(0, bottom - top), fill: b.color }));
      var label = svgEl("text", { x: W - M.r - 4, y: (top + bottom) / 2 + 3, "text-anchor": "end" }, "bandlabel");
      label.textContent = b.name;
      svg.appendChild(label);
    });
    for (var i = 0; i <= 4; i++) {
      var v = y0 + (y1 - y0) * i / 4, yy = y(v);
      svg.appendChild(svgEl("line", { x1: M.l, x2: W - M.r, y1: yy, y2: yy }, "axis"));
      var tl = svgEl("text", { x: M.l - 4, y: yy + 3, "text-anchor": "end" }, "tick");
      tl.textContent = panel.fmt(v);
      svg.appendChild(tl);
    }
    for (var j = 0; j <= 5; j++) {
      var ms = t0 + span * j / 5;
      var xl = svgEl("text", { x: x(ms), y: H - 4, "text-anchor": j === 0 ? "start" : (j === 5 ? "end" : "middle") }, "tick");
      xl.textContent = timeLabel(ms, span);
      svg.appendChild(xl);
    }
    panel.series.forEach(function (s) {
      svg.appendChild(svgEl("path", { d: path(t, s.values, x, y), fill: "none", stroke: s.color, "stroke-width": 1.6 }, "line"));
    });
    var cursor = svgEl("line", { x1: 0, x2: 0, y1: M.t, y2: H - M.b, visibility: "hidden" }, "cursor");
    svg.appendChild(cursor);
    div.appendChild(svg);
    box.appendChild(div);
    return {
      svg: svg, x: x,
      show: function (i) {
        keys.forEach(function (k, n) {
          var s = panel.series[n];
          k.textContent = s.label + " " + panel.fmt(s.values[i]);
        });
      },
      cursor: function (i) {
        if (i === null) { cursor.setAttribute("visibility", "hidden"); return; }
        cursor.setAttribute("x1", x(t[i])); cursor.setAttribute("x2", x(t[i]));
        cursor.setAttribute("visibility", "visible");
      },
    };
  }

  function nearest(t, ms) {
    var lo = 0, hi = t.length - 1;
    while (hi - lo > 1) { var mid = (lo + hi) >> 1; if (t[mid] <= ms) lo = mid; else hi = mid; }
    return Math.abs(t[hi] - ms) < Math.abs(t[lo] - ms) ? hi : lo;
  }

  // Draws `panels` into `box` (emptied first); `onHover(index)` gets the hovered point.
  function draw(box, t, panels, onHover) {
    box.replaceChildren();
    if (!t.length) { box.appendChild(PB.el("p", "Not enough history for a chart yet.", "muted")); return; }
    var W = Math.max(320, Math.floor(box.clientWidth || 800));
    var drawn = panels.map(function (p) { return drawPanel(box, t, p, W); });
    var last = t.length - 1;
    function at(i) {
      drawn.forEach(function (d) { d.show(i === null ? last : i); d.cursor(i); });
      if (onHover) onHover(i === null ? last : i, i !== null);
    }
    drawn.forEach(function (d) {
      d.svg.addEventListener("mousemove", function (e) {
        var r = d.svg.getBoundingClientRect();
        var px = (e.clientX - r.left) * (W / r.width);
        var ms = t[0] + (px - M.l) / (W - M.l - M.r) * Math.max(1, t[last] - t[0]);
        at(nearest(t, ms));
      });
      d.svg.addEventListener("mouseleave", function () { at(null); });
    });
    at(null);
  }
  return { draw: draw };
})();

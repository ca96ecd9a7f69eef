// The playground page: draws the function from the data gdlab computed in Python
// (GDLAB_SPEC), races optimizers from gdlabOptim on f and its exact gradient (GDLAB_FG), and
// keeps the starts and settings in the URL fragment. Plain canvas, no library, no network.
"use strict";

(function () {
  var S = GDLAB_SPEC, FG = GDLAB_FG, F = GDLAB_F, O = gdlabOptim;
  var D = S.d;
  var VIEW = S.view;

  // the racers: Momentum appears in both of gdlab's forms
  var RACERS = [
    { id: "gd", label: "GD", optimizer: "gd", opts: {} },
    { id: "momentum", label: "Momentum (lesson form)", optimizer: "momentum",
      opts: { form: "lesson" } },
    { id: "momentum_torch", label: "Momentum (torch form)", optimizer: "momentum",
      opts: { form: "torch" } },
    { id: "nesterov", label: "Nesterov", optimizer: "nesterov", opts: {} },
    { id: "adagrad", label: "Adagrad", optimizer: "adagrad", opts: {} },
    { id: "rmsprop", label: "RMSprop", optimizer: "rmsprop", opts: {} },
    { id: "adam", label: "Adam", optimizer: "adam", opts: {} },
    { id: "adamw", label: "AdamW", optimizer: "adamw", opts: {} },
  ];
  var COLORS = { gd: "#d62728", momentum: "#1f77b4", momentum_torch: "#17becf",
                 nesterov: "#9467bd", adagrad: "#ff7f0e", rmsprop: "#8c564b",
                 adam: "#ff00ff", adamw: "#2ca02c" };
  var BASIN_COLORS = ["#f4d03f", "#5dade2", "#58d68d", "#eb984e", "#af7ac5", "#48c9b0",
                      "#ec7063", "#a9cce3", "#d7bde2", "#f9e79f"];
  // viridis, 9 stops
  var VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                 [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];

  var state = {
    starts: [S.defaults.start.slice()],
    racers: D === 1 ? ["gd", "momentum", "adam"] : ["gd", "momentum", "rmsprop", "adam"],
    lr: S.defaults.lr, beta: 0.9, beta1: 0.9, beta2: 0.999, alpha: 0.99,
    schedule: "constant", steps: S.defaults.steps, basin: null,
  };
  var race = [];          // [{racer, start, result}]
  var shown = Infinity;   // steps drawn (the animation and step mode lower it)
  var stepMode = false;
  var animation = null;
  var basinResult = null;
  var syncControls = function () {};

  // -- the API the tests and the console use ------------------------------------------------
  function descend(opts) {
    var o = {};
    for (var k in opts) o[k] = opts[k];
    if (o.domain === undefined) o.domain = S.descend_domain;
    else if (o.domain === "unbounded") o.domain = null;
    if (typeof o.start === "number") o.start = [o.start];
    return O.descend(FG, o);
  }

  // gdlab.functions.descent.basins: labels i >= 0 (minimum i), -1 not converged, -2 escaped,
  // -3 diverged, -4 a saddle or maximum
  function basins(opts) {
    var o = {};
    for (var k in opts) o[k] = opts[k];
    var grid = o.grid || (D === 1 ? 201 : 41);
    var box = VIEW;
    var axes = box.map(function (b) { return O.linspace(b[0], b[1], grid); });
    var width = Math.max.apply(null, box.map(function (b) { return b[1] - b[0]; }));
    var match = o.match_tol || 1e-3 * width;
    var crit = S.critical;
    var starts = [];
    if (D === 1) axes[0].forEach(function (x) { starts.push([x]); });
    else axes[0].forEach(function (x) { axes[1].forEach(function (y) { starts.push([x, y]); }); });
    var labels = new Array(starts.length);
    var ends = new Array(starts.length);
    var run = { optimizer: o.optimizer || "gd", lr: o.lr === undefined ? 0.05 : o.lr,
                steps: o.steps === undefined ? 5000 : o.steps,
                tol: o.tol === undefined ? 1e-6 : o.tol, schedule: o.schedule,
                lr_mode: o.lr_mode, domain: box };
    ["beta", "form", "nesterov", "beta1", "beta2", "alpha", "eps", "weight_decay", "momentum",
     "amsgrad", "centered", "eps_inside_sqrt"].forEach(function (key) {
      if (o[key] !== undefined) run[key] = o[key];
    });
    for (var i = 0; i < starts.length; i++) {
      run.start = starts[i];
      var r = O.descend(FG, run);
      var x = r.points[r.points.length - 1];
      ends[i] = x;
      var lab = -1;
      if (r.status === "left_domain") lab = -2;
      else if (r.status === "diverged") lab = -3;
      else if (r.status === "converged" && crit.length) {
        var best = -1, bestDist = Infinity;
        for (var c = 0; c < crit.length; c++) {
          var s = 0;
          for (var j = 0; j < D; j++) {
            var dd = x[j] - crit[c].point[j];
            s += dd * dd;
          }
          var dist = Math.sqrt(s);
          if (dist < bestDist) { bestDist = dist; best = c; }
        }
        if (bestDist <= match) lab = best < S.n_minima ? best : -4;
      }
      labels[i] = lab;
    }
    return { labels: labels, starts: starts, ends: ends, grid: grid };
  }

  // -- settings ---------------------------------------------------------------------------
  function racerById(id) {
    for (var i = 0; i < RACERS.length; i++) if (RACERS[i].id === id) return RACERS[i];
    return null;
  }

  function runOptions(racer, start, withTerms) {
    var o = { optimizer: racer.optimizer, lr: state.lr, start: start, steps: state.steps,
              schedule: state.schedule, beta: state.beta, beta1: state.beta1,
              beta2: state.beta2, alpha: state.alpha, terms: !!withTerms };
    for (var k in racer.opts) o[k] = racer.opts[k];
    return o;
  }

  function runRace() {
    race = [];
    state.starts.forEach(function (start) {
      state.racers.forEach(function (id) {
        var racer = racerById(id);
        if (!racer) return;
        race.push({ racer: racer, start: start,
                    result: descend(runOptions(racer, start, true)) });
      });
    });
    writeHash();
  }

  // -- geometry ---------------------------------------------------------------------------
  var plot = document.getElementById("plot");
  var lossCanvas = document.getElementById("loss");
  var curveRange = null;

  function setupCanvas(canvas, cssW, cssH) {
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssW * ratio);
    canvas.height = Math.round(cssH * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }

  function plotSize() {
    var w = Math.min(560, plot.parentNode.clientWidth || 560);
    return { w: w, h: D === 2 ? w : Math.round(w * 0.7) };
  }

  var PAD = 40;  // room for the axis numbers

  function toPx(p, size) {
    var x0 = VIEW[0][0], x1 = VIEW[0][1];
    var px = PAD + (p[0] - x0) / (x1 - x0) * (size.w - PAD - 6);
    var py;
    if (D === 2) {
      var y0 = VIEW[1][0], y1 = VIEW[1][1];
      py = 6 + (1 - (p[1] - y0) / (y1 - y0)) * (size.h - PAD - 6);
    } else {
      py = 6 + (1 - (p[1] - curveRange[0]) / (curveRange[1] - curveRange[0])) *
        (size.h - PAD - 6);
    }
    return [px, py];
  }

  function fromPx(px, py, size) {
    var x0 = VIEW[0][0], x1 = VIEW[0][1];
    var x = x0 + (px - PAD) / (size.w - PAD - 6) * (x1 - x0);
    if (D === 1) return [clamp(x, x0, x1)];
    var y0 = VIEW[1][0], y1 = VIEW[1][1];
    var y = y0 + (1 - (py - 6) / (size.h - PAD - 6)) * (y1 - y0);
    return [clamp(x, x0, x1), clamp(y, y0, y1)];
  }

  function clamp(v, a, b) { return Math.max(a, Math.min(b, v)); }

  function fmt(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return String(v);
    var p = digits || 4;
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(p - 1);
    return String(Number(v.toPrecision(p)));
  }

  function fmtVec(v, digits) {
    if (v.length === 1) return fmt(v[0], digits);
    return "(" + v.map(function (x) { return fmt(x, digits); }).join(", ") + ")";
  }

  // -- the heatmap and contours (2-D) ------------------------------------------------------
  var heat = null;
  var contours = null;

  function colorIndex(v) {
    // position of v among the 256 quantiles: an equalized colour scale
    var q = S.colors, lo = 0, hi = q.length - 1;
    if (!(v > q[0])) return 0;
    if (v >= q[hi]) return 1;
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (q[mid] <= v) lo = mid; else hi = mid;
    }
    return (lo + (v - q[lo]) / ((q[hi] - q[lo]) || 1)) / (q.length - 1);
  }

  function viridis(t) {
    var x = clamp(t, 0, 1) * (VIRIDIS.length - 1);
    var i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
    var a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
  }

  function buildHeat() {
    var n = S.grid.n, vals = S.grid.values;
    var c = document.createElement("canvas");
    c.width = n; c.height = n;
    var ctx = c.getContext("2d");
    var img = ctx.createImageData(n, n);
    for (var row = 0; row < n; row++) {
      for (var col = 0; col < n; col++) {
        var v = vals[row * n + col];
        var k = ((n - 1 - row) * n + col) * 4;  // row 0 is the lowest y: draw it at the bottom
        var rgb = v === null ? [200, 200, 200] : viridis(colorIndex(v));
        img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2];
        img.data[k + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    heat = c;
  }

  // marching squares on the Python grid: segments [x0, y0, x1, y1] in data coordinates
  function buildContours() {
    var n = S.grid.n, v = S.grid.values;
    var xs = O.linspace(VIEW[0][0], VIEW[0][1], n), ys = O.linspace(VIEW[1][0], VIEW[1][1], n);
    contours = S.levels.map(function (level) {
      var segs = [];
      for (var r = 0; r < n - 1; r++) {
        for (var c = 0; c < n - 1; c++) {
          var a = v[r * n + c], b = v[r * n + c + 1], cc = v[(r + 1) * n + c + 1],
            d = v[(r + 1) * n + c];
          if (a === null || b === null || cc === null || d === null) continue;
          var pts = [];
          var edge = function (va, vb, xa, ya, xb, yb) {
            if ((va < level) !== (vb < level)) {
              var t = (level - va) / (vb - va);
              pts.push([xa + t * (xb - xa), ya + t * (yb - ya)]);
            }
          };
          edge(a, b, xs[c], ys[r], xs[c + 1], ys[r]);
          edge(b, cc, xs[c + 1], ys[r], xs[c + 1], ys[r + 1]);
          edge(cc, d, xs[c + 1], ys[r + 1], xs[c], ys[r + 1]);
          edge(d, a, xs[c], ys[r + 1], xs[c], ys[r]);
          if (pts.length >= 2) segs.push([pts[0], pts[1]]);
          if (pts.length === 4) segs.push([pts[2], pts[3]]);
        }
      }
      return segs;
    });
  }

  // -- drawing ------------------------------------------------------------------------------
  function drawMarker(ctx, kind, p, size) {
    var q = toPx(p, size), x = q[0], y = q[1];
    ctx.save();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#000";
    if (kind === "minimum") {
      ctx.fillStyle = "#fff";
      ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    } else if (kind === "maximum") {
      ctx.fillStyle = "#fff";
      ctx.beginPath(); ctx.moveTo(x, y - 6); ctx.lineTo(x + 6, y + 5); ctx.lineTo(x - 6, y + 5);
      ctx.closePath(); ctx.fill(); ctx.stroke();
    } else {
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 3;
      ctx.beginPath(); ctx.moveTo(x - 5, y - 5); ctx.lineTo(x + 5, y + 5);
      ctx.moveTo(x + 5, y - 5); ctx.lineTo(x - 5, y + 5); ctx.stroke();
      ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.stroke();
    }
    ctx.restore();
  }

  function drawAxes(ctx, size) {
    ctx.save();
    ctx.fillStyle = "#333";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    var x0 = VIEW[0][0], x1 = VIEW[0][1];
    for (var i = 0; i <= 4; i++) {
      var x = x0 + i * (x1 - x0) / 4;
      var lo = D === 2 ? [x, VIEW[1][0]] : [x, curveRange[0]];
      var q = toPx(lo, size);
      ctx.fillText(fmt(x, 3), q[0], size.h - PAD + 16);
    }
    ctx.fillText(S.variables[0], size.w / 2, size.h - 3);
    ctx.save();
    ctx.translate(9, (size.h - PAD) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(D === 2 ? S.variables[1] : "f(" + S.variables[0] + ")", 0, 0);
    ctx.restore();
    ctx.textAlign = "right";
    var ylo = D === 2 ? VIEW[1][0] : curveRange[0], yhi = D === 2 ? VIEW[1][1] : curveRange[1];
    for (var j = 0; j <= 4; j++) {
      var y = ylo + j * (yhi - ylo) / 4;
      var p = toPx(D === 2 ? [x0, y] : [x0, y], size);
      ctx.fillText(fmt(y, 3), PAD - 3, p[1] + 4);
    }
    ctx.restore();
  }

  function drawBasins(ctx, size) {
    if (!basinResult) return;
    var g = basinResult.grid;
    ctx.save();
    // the basin map covers the heatmap (contours stay on top): two colour scales at once
    // would not read
    ctx.globalAlpha = 0.85;
    if (D === 2) {
      var dx = (VIEW[0][1] - VIEW[0][0]) / (g - 1), dy = (VIEW[1][1] - VIEW[1][0]) / (g - 1);
      for (var i = 0; i < basinResult.starts.length; i++) {
        var s = basinResult.starts[i];
        var a = toPx([s[0] - dx / 2, s[1] + dy / 2], size), b = toPx([s[0] + dx / 2, s[1] - dy / 2], size);
        ctx.fillStyle = basinColor(basinResult.labels[i]);
        ctx.fillRect(a[0], a[1], b[0] - a[0] + 0.5, b[1] - a[1] + 0.5);
      }
    } else {
      var w = (VIEW[0][1] - VIEW[0][0]) / (g - 1);
      for (var k = 0; k < basinResult.starts.length; k++) {
        var x = basinResult.starts[k][0];
        var l = toPx([x - w / 2, curveRange[0]], size), r = toPx([x + w / 2, curveRange[0]], size);
        ctx.fillStyle = basinColor(basinResult.labels[k]);
        ctx.fillRect(l[0], size.h - PAD - 10, r[0] - l[0] + 0.5, 10);
      }
    }
    ctx.restore();
  }

  function basinColor(label) {
    if (label >= 0) return BASIN_COLORS[label % BASIN_COLORS.length];
    return { "-1": "#ffffff", "-2": "#9e9e9e", "-3": "#000000", "-4": "#d50000" }[label];
  }

  function visible(result) {
    var n = Math.min(result.points.length, shown + 1);
    return Math.max(n, 1);
  }

  function drawTrajectories(ctx, size) {
    race.forEach(function (entry) {
      var pts = entry.result.points, vals = entry.result.values;
      var n = visible(entry.result);
      var color = COLORS[entry.racer.id];
      var xy = function (i) { return toPx(D === 2 ? pts[i] : [pts[i][0], vals[i]], size); };
      ctx.save();
      // a white halo under each path keeps overlapping paths apart
      [["rgba(255,255,255,0.8)", 4.5], [color, 2]].forEach(function (style) {
        ctx.strokeStyle = style[0]; ctx.lineWidth = style[1];
        ctx.beginPath();
        for (var i = 0; i < n; i++) {
          if (!isFinite(vals[i]) || !pts[i].every(isFinite)) break;
          var q = xy(i);
          if (i === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]);
        }
        ctx.stroke();
      });
      if (n <= 80 || D === 1) {
        ctx.fillStyle = color;
        for (var i = 0; i < n; i++) {
          if (!pts[i].every(isFinite) || !isFinite(vals[i])) break;
          var q = xy(i);
          ctx.beginPath(); ctx.arc(q[0], q[1], D === 1 ? 3 : 2, 0, 2 * Math.PI); ctx.fill();
        }
      }
      var last = n - 1;
      while (last > 0 && !(pts[last].every(isFinite) && isFinite(vals[last]))) last--;
      var e = xy(last);
      ctx.fillStyle = color; ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.arc(e[0], e[1], 5.5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      ctx.restore();
    });
    state.starts.forEach(function (s) {
      var q = toPx(D === 2 ? s : [s[0], F(s)], size);
      ctx.save();
      ctx.fillStyle = "#fff"; ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
      ctx.fillRect(q[0] - 5, q[1] - 5, 10, 10); ctx.strokeRect(q[0] - 5, q[1] - 5, 10, 10);
      ctx.restore();
    });
  }

  function drawPlot() {
    var size = plotSize();
    var ctx = setupCanvas(plot, size.w, size.h);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, size.w, size.h);
    if (D === 2) {
      var a = toPx([VIEW[0][0], VIEW[1][1]], size), b = toPx([VIEW[0][1], VIEW[1][0]], size);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, a[0], a[1], b[0] - a[0], b[1] - a[1]);
      drawBasins(ctx, size);
      ctx.save();
      ctx.strokeStyle = "rgba(255,255,255,0.45)"; ctx.lineWidth = 0.8;
      ctx.beginPath();
      contours.forEach(function (segs) {
        segs.forEach(function (s) {
          var p = toPx(s[0], size), q = toPx(s[1], size);
          ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]);
        });
      });
      ctx.stroke();
      ctx.restore();
    } else {
      drawBasins(ctx, size);
      ctx.save();
      ctx.strokeStyle = "#333"; ctx.lineWidth = 1.6;
      ctx.beginPath();
      var first = true;
      for (var i = 0; i < S.curve.x.length; i++) {
        var y = S.curve.y[i];
        if (y === null) { first = true; continue; }
        var q = toPx([S.curve.x[i], y], size);
        if (first) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]);
        first = false;
      }
      ctx.stroke();
      ctx.restore();
    }
    S.critical.forEach(function (c) {
      drawMarker(ctx, c.kind, D === 2 ? c.point : [c.point[0], c.value], size);
    });
    ctx.save();
    ctx.beginPath(); ctx.rect(PAD, 6, size.w - PAD - 6, size.h - PAD - 6); ctx.clip();
    drawTrajectories(ctx, size);
    ctx.restore();
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
    ctx.strokeRect(PAD, 6, size.w - PAD - 6, size.h - PAD - 6);
    drawAxes(ctx, size);
  }

  function drawLoss() {
    var w = Math.min(560, lossCanvas.parentNode.clientWidth || 560), h = 220;
    var ctx = setupCanvas(lossCanvas, w, h);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    var lo = Infinity, hi = -Infinity, nmax = 1;
    race.forEach(function (e) {
      var n = visible(e.result);
      nmax = Math.max(nmax, e.result.points.length - 1);
      for (var i = 0; i < n; i++) {
        var v = e.result.values[i];
        if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
    });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-12) { hi = lo + 1; }
    var L = 60, B = 26, T = 8, R = 8;
    var px = function (i) { return L + i / nmax * (w - L - R); };
    var py = function (v) { return T + (1 - (v - lo) / (hi - lo)) * (h - T - B); };
    ctx.strokeStyle = "#999"; ctx.strokeRect(L, T, w - L - R, h - T - B);
    ctx.fillStyle = "#333"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "right";
    for (var j = 0; j <= 3; j++) {
      var v = lo + j * (hi - lo) / 3;
      ctx.fillText(fmt(v, 3), L - 4, py(v) + 4);
    }
    ctx.textAlign = "center";
    for (var k = 0; k <= 4; k++) {
      var s = Math.round(k * nmax / 4);
      ctx.fillText(String(s), px(s), h - B + 14);
    }
    ctx.fillText("step", (w + L) / 2, h - 2);
    race.forEach(function (e) {
      var n = visible(e.result);
      ctx.strokeStyle = COLORS[e.racer.id]; ctx.lineWidth = 1.8;
      ctx.beginPath();
      for (var i = 0; i < n; i++) {
        var v = e.result.values[i];
        if (!isFinite(v)) break;
        if (i === 0) ctx.moveTo(px(i), py(v)); else ctx.lineTo(px(i), py(v));
      }
      ctx.stroke();
    });
  }

  function drawLegend() {
    var el = document.getElementById("legend");
    var parts = [];
    var single = state.starts.length === 1;
    race.forEach(function (e, i) {
      if (!single && i >= state.racers.length) return;
      var r = e.result;
      var last = r.points[r.points.length - 1];
      parts.push('<span><i class="swatch" style="background:' + COLORS[e.racer.id] + '"></i>' +
                 e.racer.label + ": " + r.status.replace("_", " ") + " after " + r.n_steps +
                 " steps" + (single ? ", ends at " + fmtVec(last, 3) + " (f = " +
                 fmt(r.values[r.values.length - 1], 4) + ")" : "") + "</span>");
    });
    parts.push("<span>&#9633; start</span>", "<span>&#9679; end (racer's colour)</span>",
               "<span>&#9675; minimum</span>", "<span>&#9651; maximum</span>",
               "<span>&#10005; saddle</span>");
    if (D === 2) parts.push("<span>white lines: contours; colour: f, dark low, yellow high</span>");
    el.innerHTML = parts.join("");
  }

  function drawBasinLegend() {
    var el = document.getElementById("basin-legend");
    if (!basinResult) { el.innerHTML = ""; return; }
    var counts = {};
    basinResult.labels.forEach(function (l) { counts[l] = (counts[l] || 0) + 1; });
    var n = basinResult.labels.length;
    var names = { "-1": "not converged", "-2": "escaped (left the box)", "-3": "diverged",
                  "-4": "stopped at a saddle or maximum" };
    var parts = [];
    Object.keys(counts).map(Number).sort(function (a, b) {
      return (a < 0 ? 100 - a : a) - (b < 0 ? 100 - b : b);
    }).forEach(function (l) {
      var text = l >= 0 ? "minimum " + (l + 1) + " " + fmtVec(S.critical[l].point, 3) +
        ", f = " + fmt(S.critical[l].value, 4) : names[l];
      parts.push('<span><i class="box" style="background:' + basinColor(l) + '"></i>' + text +
                 ": " + (100 * counts[l] / n).toFixed(1) + "%</span>");
    });
    el.innerHTML = "<span>" + racerById(state.basin).label + ", " + n + " starts, " +
      basinResult.steps + " steps" + (basinTimer ? " (updating)" : "") + ":</span>" +
      parts.join("");
  }

  // -- step-by-step terms --------------------------------------------------------------------
  function termLines(entry, k) {
    var r = entry.result, t = r.terms[k], id = entry.racer.id, h = state;
    var g = t.g, lines = [];
    var sq = function (v) { return v.map(function (x) { return x * x; }); };
    lines.push("&theta; = " + fmtVec(r.points[k]) + ",  f(&theta;) = " + fmt(r.values[k]));
    lines.push("g = &nabla;f(&theta;) = " + fmtVec(g));
    lines.push("lr<sub>t</sub> = " + fmt(t.lr) + (state.schedule !== "constant" ?
      " (" + state.schedule + " schedule)" : ""));
    if (id === "momentum" || id === "nesterov") {
      lines.push("v = &beta;&middot;v &minus; lr&middot;g = " + fmtVec(t.velocity) +
                 "  (&beta; = " + fmt(h.beta) + ")");
      lines.push(id === "nesterov" ? "&Delta;&theta; = &beta;&middot;v &minus; lr&middot;g = " +
                 fmtVec(t.update) : "&Delta;&theta; = v = " + fmtVec(t.update));
    } else if (id === "momentum_torch") {
      lines.push("b = &beta;&middot;b + g (b<sub>1</sub> = g) = " + fmtVec(t.mu) +
                 "  (&beta; = " + fmt(h.beta) + ")");
      lines.push("&Delta;&theta; = &minus;lr&middot;b = " + fmtVec(t.update));
    } else if (id === "adagrad") {
      lines.push("g&sup2; = " + fmtVec(sq(g)));
      lines.push("G = G + g&sup2; = " + fmtVec(t.sum));
      lines.push("&Delta;&theta; = &minus;lr&middot;g / (&radic;G + 1e-10) = " + fmtVec(t.update));
    } else if (id === "rmsprop") {
      lines.push("g&sup2; = " + fmtVec(sq(g)));
      lines.push("E = &alpha;&middot;E + (1&minus;&alpha;)&middot;g&sup2; = " + fmtVec(t.nu) +
                 "  (&alpha; = " + fmt(h.alpha) + ")");
      lines.push("&Delta;&theta; = &minus;lr&middot;g / (&radic;E + 1e-8) = " + fmtVec(t.update));
    } else if (id === "adam" || id === "adamw") {
      lines.push("m = &beta;<sub>1</sub>&middot;m + (1&minus;&beta;<sub>1</sub>)&middot;g = " +
                 fmtVec(t.mu));
      lines.push("v = &beta;<sub>2</sub>&middot;v + (1&minus;&beta;<sub>2</sub>)&middot;g&sup2; = " +
                 fmtVec(t.nu));
      lines.push("m&#770; = m/(1&minus;&beta;<sub>1</sub><sup>t</sup>) = " +
                 fmtVec(t.mu.map(function (x) { return x / t.bc1; })) +
                 ",  v&#770; = v/(1&minus;&beta;<sub>2</sub><sup>t</sup>) = " +
                 fmtVec(t.nu.map(function (x) { return x / t.bc2; })));
      lines.push("&Delta;&theta; = " + (id === "adamw" ? "&minus;lr&middot;&lambda;&middot;&theta; " : "") +
                 "&minus;lr&middot;m&#770;/(&radic;v&#770; + 1e-8) = " + fmtVec(t.update) +
                 (id === "adamw" ? "  (&lambda; = 0.01)" : ""));
    } else {
      lines.push("&Delta;&theta; = &minus;lr&middot;g = " + fmtVec(t.update));
    }
    lines.push("&theta; &larr; &theta; + &Delta;&theta; = " + fmtVec(r.points[k + 1]));
    return lines;
  }

  function drawTerms() {
    var panel = document.getElementById("steppanel");
    if (!stepMode) { panel.hidden = true; return; }
    panel.hidden = false;
    var k = shown - 1;  // the step that moved the racers to point `shown`
    document.getElementById("step-title").textContent =
      "Step " + (k + 1) + ": each racer's terms from its own point";
    var html = [];
    race.slice(0, state.racers.length).forEach(function (e) {
      var body;
      if (k < 0) body = ["(press Step)"];
      else if (k >= e.result.terms.length) {
        body = ["stopped: " + e.result.status.replace("_", " ") + " after " + e.result.n_steps +
                " steps"];
      } else body = termLines(e, k);
      html.push('<div class="term" style="border-left-color:' + COLORS[e.racer.id] + '"><h3>' +
                e.racer.label + "</h3><div>" + body.join("</div><div>") + "</div></div>");
    });
    document.getElementById("terms").innerHTML = '<div class="terms">' + html.join("") + "</div>";
  }

  // -- the convergence-rate map (quadratics) -----------------------------------------------
  var rate = document.getElementById("ratemap");
  var RATE_W = 320, RATE_H = 220;

  function momentumRate(alpha, beta) {
    // heavy ball on a quadratic: per eigenvalue lam the iteration matrix [[beta, lam],
    // [-alpha beta, 1 - alpha lam]] (Distill's R); the rate is its largest |eigenvalue|
    var worst = 0;
    S.quadratic.eigenvalues.forEach(function (lam) {
      var tr = beta + 1 - alpha * lam, det = beta;
      var disc = tr * tr - 4 * det, m;
      if (disc < 0) m = Math.sqrt(det);
      else m = Math.max(Math.abs((tr + Math.sqrt(disc)) / 2), Math.abs((tr - Math.sqrt(disc)) / 2));
      worst = Math.max(worst, m);
    });
    return worst;
  }

  function rateAxes() {
    var lams = S.quadratic.eigenvalues;
    return { amax: 4 / Math.max.apply(null, lams), bmax: 0.99 };
  }

  function drawRate() {
    if (!S.quadratic) return;
    var ax = rateAxes();
    var ctx = setupCanvas(rate, RATE_W, RATE_H);
    var L = 36, B = 26;
    var w = RATE_W - L - 4, h = RATE_H - B - 4;
    var cell = 4;
    for (var i = 0; i < w; i += cell) {
      for (var j = 0; j < h; j += cell) {
        var a = (i + cell / 2) / w * ax.amax, b = (1 - (j + cell / 2) / h) * ax.bmax;
        var r = momentumRate(a, b);
        if (r >= 1) ctx.fillStyle = "#c62828";
        else {
          var c = viridis(1 - Math.min(1, -Math.log10(1 - r) / 3));
          ctx.fillStyle = "rgb(" + c.map(Math.round).join(",") + ")";
        }
        ctx.fillRect(L + i, 4 + j, cell, cell);
      }
    }
    var mx = L + state.lr / ax.amax * w, my = 4 + (1 - state.beta / ax.bmax) * h;
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(mx, my, 6, 0, 2 * Math.PI); ctx.stroke();
    ctx.strokeStyle = "#000"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.arc(mx, my, 7.5, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = "#333"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center";
    ctx.fillText("learning rate 0 .. " + fmt(ax.amax, 3), L + w / 2, RATE_H - 6);
    ctx.save(); ctx.translate(11, 4 + h / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText("momentum \u03b2 0 .. 0.99", 0, 0); ctx.restore();
    var lams = S.quadratic.eigenvalues;
    var lmin = Math.min.apply(null, lams), lmax = Math.max.apply(null, lams);
    var aBest = Math.pow(2 / (Math.sqrt(lmin) + Math.sqrt(lmax)), 2);
    var k = Math.sqrt(lmax / lmin), bBest = Math.pow((k - 1) / (k + 1), 2);
    document.getElementById("rate-text").innerHTML =
      "Hessian eigenvalues " + lams.map(function (v) { return fmt(v, 4); }).join(", ") +
      ". Now: rate " + fmt(momentumRate(state.lr, state.beta), 4) + " per step (lr " +
      fmt(state.lr, 3) + ", &beta; " + fmt(state.beta, 3) + "). Best: lr " + fmt(aBest, 3) +
      ", &beta; " + fmt(bBest, 3) + ", rate " + fmt(momentumRate(aBest, bBest), 4) +
      "; without momentum the best rate is " + fmt((lmax - lmin) / (lmax + lmin), 4) + ".";
  }

  // -- redraw, animation -----------------------------------------------------------------
  function redraw() {
    drawPlot();
    drawLoss();
    drawLegend();
    drawBasinLegend();
    drawTerms();
    drawRate();
  }

  function longest() {
    var n = 0;
    race.forEach(function (e) { n = Math.max(n, e.result.points.length - 1); });
    return n;
  }

  function animate() {
    if (animation) cancelAnimationFrame(animation);
    stepMode = false;
    var total = longest(), t0 = null, duration = Math.min(2500, 400 + 8 * total);
    var frame = function (ts) {
      if (t0 === null) t0 = ts;
      shown = Math.floor(total * Math.min(1, (ts - t0) / duration));
      redraw();
      if (shown < total) animation = requestAnimationFrame(frame);
      else { animation = null; shown = Infinity; redraw(); }
    };
    animation = requestAnimationFrame(frame);
  }

  // a basin map takes ~0.5 s on peaks: while a slider moves, wait until it rests
  var basinTimer = null;

  function scheduleBasins() {
    if (basinTimer) clearTimeout(basinTimer);
    basinTimer = setTimeout(function () {
      basinTimer = null;
      if (!state.basin) return;
      computeBasins();
      drawPlot();
      drawBasinLegend();
    }, 250);
  }

  function rerun(animated) {
    runRace();
    if (basinResult) scheduleBasins();
    if (animated) animate();
    else {
      if (animation) { cancelAnimationFrame(animation); animation = null; }
      if (!stepMode) shown = Infinity;
      redraw();
    }
  }

  // the basin map runs at least BASIN_STEPS steps and tol 1e-6 (basins()'s tol), and is
  // recomputed only when a setting it depends on changes (not when the start moves)
  var BASIN_STEPS = 1000;
  var basinKey = null;

  function computeBasins() {
    var racer = racerById(state.basin);
    var o = runOptions(racer, null, false);
    o.tol = 1e-6;
    o.steps = Math.max(state.steps, BASIN_STEPS);
    var key = JSON.stringify(o);
    if (basinResult && key === basinKey) return;
    basinResult = basins(o);
    basinResult.steps = o.steps;
    basinKey = key;
  }

  // -- URL fragment ------------------------------------------------------------------------
  var KEYS = ["lr", "beta", "beta1", "beta2", "alpha", "steps"];
  var lastHash = null;

  function writeHash() {
    var parts = ["fn=" + encodeURIComponent(S.name),
                 "start=" + state.starts.map(function (s) {
                   return s.map(function (v) { return Number(v.toPrecision(6)); }).join(",");
                 }).join(";"),
                 "opt=" + state.racers.join(",")];
    KEYS.forEach(function (k) { parts.push(k + "=" + Number(Number(state[k]).toPrecision(6))); });
    parts.push("schedule=" + state.schedule);
    if (state.basin) parts.push("basin=" + state.basin);
    var hash = "#" + parts.join("&");
    lastHash = hash;
    if (location.hash === hash) return;
    try {
      history.replaceState(null, "", hash);
    } catch (err) {
      location.replace(hash);
    }
  }

  function readHash() {
    var h = location.hash.replace(/^#/, "");
    if (!h) return;
    var kv = {};
    h.split("&").forEach(function (p) {
      var i = p.indexOf("=");
      if (i > 0) kv[p.slice(0, i)] = decodeURIComponent(p.slice(i + 1));
    });
    if (kv.fn !== undefined && kv.fn !== S.name) {
      var warn = document.getElementById("mismatch");
      warn.hidden = false;
      warn.textContent = "This link was made for " + kv.fn + "; this page draws " + S.name +
        ". Its starts and settings are used as they are.";
    }
    if (kv.start) {
      var starts = kv.start.split(";").map(function (s) { return s.split(",").map(Number); })
        .filter(function (s) { return s.length === D && s.every(isFinite); });
      if (starts.length) state.starts = starts;
    }
    if (kv.opt) {
      var ids = kv.opt.split(",").filter(function (id) { return racerById(id); });
      state.racers = ids;
    }
    KEYS.forEach(function (k) {
      var v = Number(kv[k]);
      if (kv[k] !== undefined && isFinite(v) && v > 0) state[k] = k === "steps" ? Math.round(v) : v;
    });
    if (kv.beta !== undefined && Number(kv.beta) === 0) state.beta = 0;
    if (kv.beta1 !== undefined && Number(kv.beta1) === 0) state.beta1 = 0;
    if (kv.schedule && O.SCHEDULES.indexOf(kv.schedule) >= 0) state.schedule = kv.schedule;
    if (kv.basin && racerById(kv.basin)) state.basin = kv.basin;
  }

  // -- controls --------------------------------------------------------------------------
  function buildControls() {
    var box = document.getElementById("racers");
    RACERS.forEach(function (r) {
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = "checkbox"; input.value = r.id; input.id = "racer-" + r.id;
      input.checked = state.racers.indexOf(r.id) >= 0;
      input.addEventListener("change", function () {
        state.racers = RACERS.map(function (x) { return x.id; }).filter(function (id) {
          return document.getElementById("racer-" + id).checked;
        });
        rerun(false);
      });
      var sw = document.createElement("i");
      sw.className = "swatch"; sw.style.background = COLORS[r.id];
      label.appendChild(input); label.appendChild(sw);
      label.appendChild(document.createTextNode(r.label));
      box.appendChild(label);
    });
    var sliders = {
      lr: { get: function () { return Math.log10(state.lr); },
            set: function (v) { state.lr = Number(Math.pow(10, v).toPrecision(3)); } },
      beta: { get: function () { return state.beta; }, set: function (v) { state.beta = v; } },
      beta1: { get: function () { return state.beta1; }, set: function (v) { state.beta1 = v; } },
      beta2: { get: function () { return state.beta2; }, set: function (v) { state.beta2 = v; } },
      alpha: { get: function () { return state.alpha; }, set: function (v) { state.alpha = v; } },
      steps: { get: function () { return state.steps; },
               set: function (v) { state.steps = Math.round(v); } },
    };
    syncControls = function () {
      Object.keys(sliders).forEach(function (key) {
        document.getElementById(key).value = sliders[key].get();
        document.getElementById(key + "-out").textContent = fmt(state[key], 4);
      });
      RACERS.forEach(function (r) {
        document.getElementById("racer-" + r.id).checked = state.racers.indexOf(r.id) >= 0;
      });
      document.getElementById("schedule").value = state.schedule;
      if (state.basin) document.getElementById("basin-opt").value = state.basin;
      document.getElementById("basin").textContent = state.basin ? "Hide" : "Show";
    };
    Object.keys(sliders).forEach(function (key) {
      var input = document.getElementById(key), out = document.getElementById(key + "-out");
      input.value = sliders[key].get();
      out.textContent = fmt(state[key], 4);
      input.addEventListener("input", function () {
        sliders[key].set(Number(input.value));
        out.textContent = fmt(state[key], 4);
        rerun(false);
      });
    });
    var sched = document.getElementById("schedule");
    O.SCHEDULES.forEach(function (name) {
      var opt = document.createElement("option");
      opt.value = name; opt.textContent = name;
      sched.appendChild(opt);
    });
    sched.value = state.schedule;
    sched.addEventListener("change", function () { state.schedule = sched.value; rerun(false); });
    var bsel = document.getElementById("basin-opt");
    RACERS.forEach(function (r) {
      var opt = document.createElement("option");
      opt.value = r.id; opt.textContent = r.label;
      bsel.appendChild(opt);
    });
    bsel.value = state.basin || "gd";
    var bbtn = document.getElementById("basin");
    var basinButton = function () { bbtn.textContent = basinResult ? "Hide" : "Show"; };
    bbtn.addEventListener("click", function () {
      if (basinResult) { basinResult = null; state.basin = null; }
      else { state.basin = bsel.value; computeBasins(); }
      basinButton(); writeHash(); redraw();
    });
    bsel.addEventListener("change", function () {
      if (basinResult) { state.basin = bsel.value; computeBasins(); writeHash(); redraw(); }
    });
    if (state.basin) { computeBasins(); }
    basinButton();
    document.getElementById("play").addEventListener("click", function () { animate(); });
    document.getElementById("step").addEventListener("click", function () {
      if (animation) { cancelAnimationFrame(animation); animation = null; }
      if (!stepMode) { stepMode = true; shown = 0; }
      shown = Math.min(shown + 1, longest());
      redraw();
    });
    document.getElementById("run").addEventListener("click", function () {
      stepMode = false; shown = Infinity; redraw();
    });
    if (S.quadratic) {
      document.getElementById("rate").hidden = false;
      rate.addEventListener("click", function (ev) {
        var r = rate.getBoundingClientRect(), ax = rateAxes();
        var x = (ev.clientX - r.left) / r.width * RATE_W, y = (ev.clientY - r.top) / r.height * RATE_H;
        var a = clamp((x - 36) / (RATE_W - 40), 0.001, 1) * ax.amax;
        var b = clamp(1 - (y - 4) / (RATE_H - 30), 0, 1) * ax.bmax;
        state.lr = Number(a.toPrecision(3));
        state.beta = Number(b.toFixed(2));
        document.getElementById("lr").value = Math.log10(state.lr);
        document.getElementById("lr-out").textContent = fmt(state.lr, 4);
        document.getElementById("beta").value = state.beta;
        document.getElementById("beta-out").textContent = fmt(state.beta, 4);
        rerun(false);
      });
    }
    // click or drag: move the start (shift-click adds one); the race re-runs as it moves
    var dragging = false;
    var pointAt = function (ev) {
      var r = plot.getBoundingClientRect(), size = plotSize();
      return fromPx((ev.clientX - r.left) / r.width * size.w,
                    (ev.clientY - r.top) / r.height * size.h, size);
    };
    plot.addEventListener("pointerdown", function (ev) {
      var p = pointAt(ev);
      if (ev.shiftKey) state.starts.push(p);
      else state.starts = [p];
      dragging = true;
      if (plot.setPointerCapture) {
        try { plot.setPointerCapture(ev.pointerId); } catch (err) { /* synthetic pointer */ }
      }
      stepMode = false;
      rerun(false);
    });
    plot.addEventListener("pointermove", function (ev) {
      if (!dragging) return;
      state.starts[state.starts.length - 1] = pointAt(ev);
      rerun(false);
    });
    var stop = function () {
      if (dragging) { dragging = false; rerun(true); }
    };
    plot.addEventListener("pointerup", stop);
    plot.addEventListener("pointercancel", stop);
    window.addEventListener("resize", function () { redraw(); });
    // a link with another fragment opened on this page: take its starts and settings
    window.addEventListener("hashchange", function () {
      if (location.hash === lastHash) return;
      state.basin = null;
      readHash();
      syncControls();
      basinResult = null;
      if (state.basin) computeBasins();
      rerun(true);
    });
  }

  // -- start -------------------------------------------------------------------------------
  function init() {
    readHash();
    if (D === 2) { buildHeat(); buildContours(); }
    else {
      var ys = S.curve.y.filter(function (v) { return v !== null; });
      var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
      var pad = 0.06 * (hi - lo || 1);
      curveRange = [lo - pad, hi + pad];
    }
    var vars = S.variables.join(", ");
    document.getElementById("about").textContent = S.description ||
      ("A typed function of " + vars + ".");
    document.getElementById("gradient").textContent = S.gradient.map(function (g, i) {
      return "df/d" + S.variables[i] + " = " + g;
    }).join(";  ");
    document.getElementById("hint").textContent = D === 2 ?
      "Click or drag on the map to move the start (" + vars + "); shift-click adds a start." :
      "Click or drag on the curve to move the start; shift-click adds one. Each dot is a step.";
    buildControls();
    runRace();
    shown = Infinity;
    redraw();
  }

  window.gdlab = {
    descend: descend,
    basins: basins,
    spec: S,
    f: F,
    fg: FG,
    state: state,
    race: function () {
      return race.map(function (e) {
        return { racer: e.racer.id, start: e.start, points: e.result.points,
                 values: e.result.values, status: e.result.status };
      });
    },
    momentumRate: S.quadratic ? momentumRate : null,
  };
  init();
})();

// The network page: replays a fit gdlab ran in Python (GDLAB_NETWORK). The maps arrive as one
// deflated uint8 block (inflated by the browser's DecompressionStream); this script decodes
// them, draws the output map with the data, one small map per hidden unit and the loss
// curves, and moves through the epochs with a scrubber. Plain canvas, no library, no network.
"use strict";

(function () {
  var S = GDLAB_NETWORK;
  var G = S.grid, U = S.unit_grid;
  var N_UNITS = S.layers.reduce(function (a, b) { return a + b; }, 0);
  var PER = G * G + N_UNITS * U * U;   // bytes of one snapshot
  var N = S.epochs.length;
  // TensorFlow Playground's colours: orange for the first class / negative, blue for the
  // second / positive, white between
  var ORANGE = [245, 147, 34], WHITE = [232, 234, 235], BLUE = [8, 119, 189];
  var bytes = null;       // the decoded snapshots, N * PER bytes
  var current = 0;
  var timer = null;

  function colour(t) {    // t in [-1, 1]
    var a = t < 0 ? ORANGE : BLUE, s = Math.min(1, Math.abs(t));
    return [WHITE[0] + (a[0] - WHITE[0]) * s, WHITE[1] + (a[1] - WHITE[1]) * s,
            WHITE[2] + (a[2] - WHITE[2]) * s];
  }

  function base64Bytes(text) {
    var bin = atob(text), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // undo the filters of gdlab.playground.network: each snapshot stored as the running
  // difference of its bytes (mod 256) after subtracting the previous snapshot
  function unfilter(raw) {
    for (var i = 0; i < N; i++) {
      var off = i * PER;
      for (var k = 1; k < PER; k++) raw[off + k] = (raw[off + k] + raw[off + k - 1]) & 255;
      if (i > 0) {
        for (var j = 0; j < PER; j++) raw[off + j] = (raw[off + j] + raw[off - PER + j]) & 255;
      }
    }
    return raw;
  }

  function inflate(text) {
    var stream = new Blob([base64Bytes(text)]).stream()
      .pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buf) {
      var raw = new Uint8Array(buf);
      if (raw.length !== N * PER) {
        throw new Error("the page's maps hold " + raw.length + " bytes, expected " + N * PER);
      }
      return unfilter(raw);
    });
  }

  // -- the values of snapshot i -------------------------------------------------------------
  function snapshot(i) {
    var off = i * PER, proba = new Array(G * G), units = [], u = 0;
    for (var k = 0; k < G * G; k++) proba[k] = bytes[off + k] / 255;
    off += G * G;
    for (var l = 0; l < S.layers.length; l++) {
      var layer = [];
      for (var n = 0; n < S.layers[l]; n++, u++) {
        var lo = S.ranges[i][u][0], hi = S.ranges[i][u][1], m = new Array(U * U);
        for (var c = 0; c < U * U; c++) m[c] = lo + bytes[off + c] * (hi - lo) / 255;
        layer.push(m);
        off += U * U;
      }
      units.push(layer);
    }
    var e = S.epochs[i];
    return { epoch: e, proba: proba, units: units, trainLoss: S.loss.train[e],
             testLoss: S.loss.test[e] };
  }

  // -- drawing --------------------------------------------------------------------------------
  function sharp(canvas, cssWidth, cssHeight) {
    var ratio = window.devicePixelRatio || 1;
    var w = Math.round((cssWidth || canvas.clientWidth || canvas.width) * ratio);
    var h = Math.round((cssHeight || canvas.clientHeight || canvas.height) * ratio);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    return canvas.getContext("2d");
  }

  // a map of n x n values (rows along y, the first row at the bottom) as an image, scaled
  // smoothly onto the canvas
  function paintMap(canvas, values, n, scale) {
    var small = document.createElement("canvas");
    small.width = n; small.height = n;
    var sctx = small.getContext("2d"), img = sctx.createImageData(n, n);
    for (var r = 0; r < n; r++) {
      for (var c = 0; c < n; c++) {
        var rgb = colour(scale(values[r * n + c])), p = ((n - 1 - r) * n + c) * 4;
        img.data[p] = rgb[0]; img.data[p + 1] = rgb[1]; img.data[p + 2] = rgb[2];
        img.data[p + 3] = 255;
      }
    }
    sctx.putImageData(img, 0, 0);
    var ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    // the cells' centres are the grid's points: half a cell of the image lies outside
    var cw = canvas.width / (n - 1), ch = canvas.height / (n - 1);
    ctx.drawImage(small, -cw / 2, -ch / 2, canvas.width + cw, canvas.height + ch);
    return ctx;
  }

  function toCanvas(canvas, x, y) {
    var B = S.box;
    return [(x - B[0][0]) / (B[0][1] - B[0][0]) * canvas.width,
            (1 - (y - B[1][0]) / (B[1][1] - B[1][0])) * canvas.height];
  }

  function drawBoundary(snap) {
    var canvas = document.getElementById("boundary");
    var ctx = sharp(canvas);
    paintMap(canvas, snap.proba, G, function (p) { return 2 * p - 1; });
    var ratio = canvas.width / (canvas.clientWidth || canvas.width);
    var P = S.points, radius = 3.2 * ratio;
    for (var i = 0; i < P.x.length; i++) {
      var xy = toCanvas(canvas, P.x[i], P.y[i]);
      var rgb = P.label[i] ? BLUE : ORANGE;
      ctx.beginPath();
      ctx.arc(xy[0], xy[1], radius, 0, 2 * Math.PI);
      ctx.fillStyle = "rgb(" + rgb.join(",") + ")";
      ctx.fill();
      ctx.lineWidth = (P.test[i] ? 1.6 : 1) * ratio;
      ctx.strokeStyle = P.test[i] ? "#000" : "#fff";
      ctx.stroke();
    }
  }

  function drawUnits(snap) {
    var u = 0;
    for (var l = 0; l < snap.units.length; l++) {
      for (var n = 0; n < snap.units[l].length; n++, u++) {
        var canvas = document.getElementById("unit-" + l + "-" + n);
        var lo = S.ranges[current][u][0], hi = S.ranges[current][u][1];
        var lim = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
        sharp(canvas, 84, 84);
        paintMap(canvas, snap.units[l][n], U, function (v) { return v / lim; });
        document.getElementById("unit-max-" + l + "-" + n).textContent =
          "|a| \u2264 " + fmt(lim);
      }
    }
  }

  // the inputs' maps: each feature itself over the plane, from -1 (orange) to 1 (blue)
  var INPUTS = [0, 1].map(function (axis) {
    var c = document.createElement("canvas"), v = new Array(U * U);
    c.width = U; c.height = U;
    for (var r = 0; r < U; r++) {
      for (var k = 0; k < U; k++) v[r * U + k] = 2 * (axis === 0 ? k : r) / (U - 1) - 1;
    }
    paintMap(c, v, U, function (t) { return t; });
    return c;
  });

  // the network as TensorFlow Playground draws it: one column per layer, every unit's map as
  // its node, every weight as a link
  function drawNetwork(i) {
    var canvas = document.getElementById("graph");
    var sizes = [2].concat(S.layers, [1]), most = Math.max.apply(null, sizes);
    var cssW = canvas.clientWidth || 560;
    var node = Math.max(12, Math.min(40, Math.floor(320 / most)));
    var gap = Math.round(node * 0.3), cssH = most * (node + gap) + gap;
    canvas.style.height = cssH + "px";
    var ctx = sharp(canvas, cssW, cssH), ratio = canvas.width / cssW;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    var step = (cssW - node) / (sizes.length - 1);
    function at(l, k) {
      var top = (cssH - sizes[l] * (node + gap) + gap) / 2;
      return [l * step, top + k * (node + gap)];
    }
    var W = S.weights[i], off = 0, big = 0;
    for (var w = 0; w < W.length; w++) big = Math.max(big, Math.abs(W[w]));
    for (var l = 0; l + 1 < sizes.length; l++) {
      for (var a = 0; a < sizes[l]; a++) {
        for (var b = 0; b < sizes[l + 1]; b++) {
          var v = W[off + a * sizes[l + 1] + b], p = at(l, a), q = at(l + 1, b);
          var x0 = p[0] + node, y0 = p[1] + node / 2, x1 = q[0], y1 = q[1] + node / 2;
          ctx.beginPath();
          ctx.moveTo(x0, y0);
          ctx.bezierCurveTo((x0 + x1) / 2, y0, (x0 + x1) / 2, y1, x1, y1);
          ctx.strokeStyle = "rgba(" + (v < 0 ? ORANGE : BLUE).join(",") + ",0.75)";
          ctx.lineWidth = 0.4 + 3.6 * (big ? Math.abs(v) / big : 0);
          ctx.stroke();
        }
      }
      off += sizes[l] * sizes[l + 1];
    }
    for (l = 0; l < sizes.length; l++) {
      for (var k = 0; k < sizes[l]; k++) {
        var image = l === 0 ? INPUTS[k] : l === sizes.length - 1 ?
          document.getElementById("boundary") :
          document.getElementById("unit-" + (l - 1) + "-" + k);
        var xy = at(l, k);
        ctx.drawImage(image, xy[0], xy[1], node, node);
        ctx.strokeStyle = "#888";
        ctx.lineWidth = 1;
        ctx.strokeRect(xy[0] + 0.5, xy[1] + 0.5, node - 1, node - 1);
      }
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }

  function fmt(v) {
    if (v === null || v === undefined) return "-";
    return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(3) : v.toExponential(2);
  }

  function drawLoss(epoch) {
    var canvas = document.getElementById("loss");
    var ctx = sharp(canvas);
    var w = canvas.width, h = canvas.height, ratio = w / (canvas.clientWidth || w);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    var all = S.loss.train.concat(S.loss.test).filter(function (v) { return v > 0; });
    var top = Math.log10(Math.max.apply(null, all)), bottom = Math.log10(Math.min.apply(null, all));
    if (!(top > bottom)) { top = bottom + 1; }
    var left = 48 * ratio, right = 8 * ratio, up = 8 * ratio, down = 22 * ratio;
    var E = S.loss.train.length - 1;
    function X(e) { return left + (w - left - right) * e / Math.max(E, 1); }
    function Y(v) { return up + (h - up - down) * (top - Math.log10(v)) / (top - bottom); }
    ctx.font = (11 * ratio) + "px system-ui, sans-serif";
    ctx.fillStyle = "#555";
    ctx.fillText(fmt(Math.pow(10, top)), 2 * ratio, up + 10 * ratio);
    ctx.fillText(fmt(Math.pow(10, bottom)), 2 * ratio, h - down);
    ctx.fillText("epoch 0", left, h - 6 * ratio);
    var endText = "epoch " + E;
    ctx.fillText(endText, w - right - ctx.measureText(endText).width, h - 6 * ratio);
    ctx.strokeStyle = "#ccc";
    ctx.strokeRect(left, up, w - left - right, h - up - down);
    [["train", "#333", []], ["test", "#0877bd", [5 * ratio, 3 * ratio]]].forEach(function (c) {
      var vals = S.loss[c[0]];
      ctx.beginPath();
      ctx.setLineDash(c[2]);
      ctx.strokeStyle = c[1];
      ctx.lineWidth = 1.5 * ratio;
      var started = false;
      for (var e = 0; e <= E; e++) {
        if (!(vals[e] > 0)) continue;
        if (started) ctx.lineTo(X(e), Y(vals[e])); else ctx.moveTo(X(e), Y(vals[e]));
        started = true;
      }
      ctx.stroke();
      ctx.setLineDash([]);
      if (vals[epoch] > 0) {
        ctx.beginPath();
        ctx.arc(X(epoch), Y(vals[epoch]), 3.5 * ratio, 0, 2 * Math.PI);
        ctx.fillStyle = c[1];
        ctx.fill();
      }
    });
    ctx.strokeStyle = "#d62728";
    ctx.lineWidth = 1 * ratio;
    ctx.beginPath();
    ctx.moveTo(X(epoch), up);
    ctx.lineTo(X(epoch), h - down);
    ctx.stroke();
  }

  function show(i) {
    i = Math.max(0, Math.min(N - 1, Math.round(i)));
    current = i;
    var snap = snapshot(i);
    drawBoundary(snap);
    drawUnits(snap);
    drawNetwork(i);
    drawLoss(snap.epoch);
    document.getElementById("epoch").value = String(i);
    document.getElementById("epoch-out").textContent = "epoch " + snap.epoch + " / " +
      S.epochs[N - 1];
    document.getElementById("loss-text").textContent = "after epoch " + snap.epoch +
      ": training loss " + fmt(snap.trainLoss) +
      (S.n_test ? ", test loss " + fmt(snap.testLoss) : "") + " (mean cross-entropy)";
    return snap;
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    document.getElementById("play").textContent = "Play";
  }

  function play() {
    if (timer !== null) { stop(); return; }
    if (current >= N - 1) show(0);
    document.getElementById("play").textContent = "Pause";
    timer = setInterval(function () {
      if (current >= N - 1) { stop(); return; }
      show(current + 1);
    }, 80);
  }

  // -- the page around the drawings -----------------------------------------------------------
  function buildUnits() {
    var root = document.getElementById("layers");
    S.layers.forEach(function (n, l) {
      var box = document.createElement("div");
      box.className = "layer" + (n > 8 ? " wide" : "");
      var title = document.createElement("h3");
      title.textContent = "layer " + (l + 1) + ": " + n + " " + S.settings.activation[l] +
        " unit" + (n === 1 ? "" : "s");
      box.appendChild(title);
      var cells = document.createElement("div");
      cells.className = "cells";
      for (var k = 0; k < n; k++) {
        var fig = document.createElement("figure");
        var c = document.createElement("canvas");
        c.id = "unit-" + l + "-" + k;
        c.width = 84; c.height = 84;
        c.setAttribute("aria-label", "layer " + (l + 1) + ", unit " + (k + 1));
        var cap = document.createElement("figcaption"), most = document.createElement("span");
        cap.textContent = "unit " + (k + 1);
        most.id = "unit-max-" + l + "-" + k;
        cap.appendChild(most);
        fig.appendChild(c); fig.appendChild(cap);
        cells.appendChild(fig);
      }
      box.appendChild(cells);
      root.appendChild(box);
    });
  }

  function describe() {
    var s = S.settings, acc = S.accuracy;
    var pct = function (v) { return v === null ? "-" : (100 * v).toFixed(1) + " %"; };
    document.getElementById("about").textContent =
      S.n_train + " training points, " + S.n_test + " test points; " + s.optimizer +
      ", learning rate " + s.lr + ", batch " + (s.batch_size === null ? "full" : s.batch_size) +
      ", " + s.epochs + " epochs, L2 penalty " + s.alpha + ", seed " + s.seed +
      ". Accuracy at the end: training " + pct(acc.train) +
      (S.n_test ? ", test " + pct(acc.test) : "") + ".";
    var legend = document.getElementById("legend");
    legend.innerHTML = "";
    var items = [[ORANGE, S.classes[0], ""], [BLUE, S.classes[1], ""],
                 [ORANGE, "training point", ""], [ORANGE, "test point", " test"]];
    items.slice(0, S.n_test ? 4 : 3).forEach(function (item, k) {
      var span = document.createElement("span"), dot = document.createElement("i");
      dot.className = "dot" + item[2];
      dot.style.background = k < 2 ? "rgb(" + item[0].join(",") + ")" : "#bbb";
      span.appendChild(dot);
      span.appendChild(document.createTextNode(k < 2 ? S.target + " = " + item[1] : item[1]));
      legend.appendChild(span);
    });
    var note = document.createElement("span");
    note.textContent = "background: the network's P(" + S.target + " = " + S.classes[1] +
      "), white at 0.5; axes " + S.features[0] + " (across) and " + S.features[1] + " (up)";
    legend.appendChild(note);
    var files = document.getElementById("files");
    files.innerHTML = "";
    [["The fitted model is beside this page: ", S.model_file],
     [" (gdlab's model file, with the columns' scaling). Predict with ",
      "gdlab predict " + S.model_file + " TABLE.csv --proba"],
     [" for a table with columns " + S.features.join(", ") + ". The data: ", S.recipe],
     [".", null]].forEach(function (part) {
      files.appendChild(document.createTextNode(part[0]));
      if (part[1] !== null) {
        var code = document.createElement("code");
        code.textContent = part[1];
        files.appendChild(code);
      }
    });
  }

  var ready = inflate(S.maps).then(function (raw) {
    bytes = raw;
    var slider = document.getElementById("epoch");
    slider.max = String(N - 1);
    slider.addEventListener("input", function () { stop(); show(Number(slider.value)); });
    document.getElementById("play").addEventListener("click", play);
    // redraw at the screen's resolution whenever the layout changes the canvas's size
    var drawn = null;
    new ResizeObserver(function () {
      var w = document.getElementById("boundary").clientWidth;
      if (w !== drawn) { drawn = w; show(current); }
    }).observe(document.getElementById("boundary"));
    show(N - 1);
    return N;
  });

  buildUnits();
  describe();
  window.gdlab = {
    network: {
      spec: S,
      ready: ready,
      epochs: S.epochs,
      snapshot: function (i) { return snapshot(i); },
      show: show,
      current: function () { return current; },
      playing: function () { return timer !== null; },
    },
  };
})();

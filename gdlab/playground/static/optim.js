// gdlab's optimizers, schedules and descent loop in plain JavaScript.
//
// Each rule mirrors gdlab/core/optim/*.py, gdlab/core/schedules.py and the loop of
// gdlab/functions/descent.py line for line: same defaults, same eps placement, the same
// lerp form as gdlab.core.optim.base.lerp and the same order of floating-point operations,
// so that a trajectory computed here equals gdlab.functions.descent.minimize's to the last
// bits up to the libm differences of exp/cos/pow. Vectors are plain arrays of numbers.
"use strict";

var gdlabOptim = (function () {
  // torch.lerp's rounding: a + w (b - a) below w = 0.5, b - (b - a) (1 - w) from 0.5 on
  function lerp(a, b, w) {
    return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
  }

  function zeros(d) {
    var out = new Array(d);
    for (var i = 0; i < d; i++) out[i] = 0.0;
    return out;
  }

  function filled(d, v) {
    var out = new Array(d);
    for (var i = 0; i < d; i++) out[i] = v;
    return out;
  }

  // defaults of each class in gdlab.core.optim (AdamW's weight decay is 1e-2, as torch's)
  var DEFAULTS = {
    gd: {},
    sgd: { momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 },
    momentum: { beta: 0.9, form: "lesson", nesterov: false, dampening: 0.0, weight_decay: 0.0 },
    nesterov: { beta: 0.9, form: "lesson", weight_decay: 0.0 },
    adagrad: { eps: 1e-10, eps_inside_sqrt: false, initial_accumulator_value: 0.0,
               lr_decay: 0.0, weight_decay: 0.0 },
    rmsprop: { alpha: 0.99, eps: 1e-8, eps_inside_sqrt: false, centered: false,
               momentum: 0.0, weight_decay: 0.0 },
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad: false, weight_decay: 0.0 },
    adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad: false, weight_decay: 1e-2 },
  };

  function hyper(name, opts) {
    var base = DEFAULTS[name];
    if (base === undefined) {
      throw new Error("Unknown optimizer '" + name + "'. Valid names are " +
                      Object.keys(DEFAULTS).join(", ") + ".");
    }
    var h = {};
    for (var key in base) {
      h[key] = (opts && opts[key] !== undefined && opts[key] !== null) ? opts[key] : base[key];
    }
    return h;
  }

  // g + weight_decay * theta, coupled L2 decay (torch's)
  function decayed(g, x, wd) {
    if (wd === 0.0) return g;
    return g.map(function (gi, i) { return gi + wd * x[i]; });
  }

  // Momentum (lesson and torch forms), Nesterov and SGD: gdlab/core/optim/sgd.py
  function momentumRule(beta, form, nesterov, dampening, wd) {
    var buf = form === "lesson" ? "velocity" : "mu";
    return {
      init: function (d) {
        var s = {};
        if (beta !== 0.0) s[buf] = zeros(d);
        return s;
      },
      update: function (g0, state, x, lr, t) {
        var g = decayed(g0, x, wd);
        var d = g.length;
        var u = new Array(d);
        var terms = { g: g };
        if (beta === 0.0) {
          for (var i = 0; i < d; i++) u[i] = -lr * g[i];
          return { u: u, state: {}, terms: terms };
        }
        if (form === "lesson") {
          var v = new Array(d);
          for (var j = 0; j < d; j++) {
            v[j] = beta * state.velocity[j] - lr * g[j];
            u[j] = nesterov ? beta * v[j] - lr * g[j] : v[j];
          }
          terms.velocity = v;
          return { u: u, state: { velocity: v }, terms: terms };
        }
        var b = new Array(d);
        for (var k = 0; k < d; k++) {
          // the first buffer is the gradient itself, not (1 - dampening) * g
          b[k] = t === 1 ? g[k] : beta * state.mu[k] + (1.0 - dampening) * g[k];
          var ge = nesterov ? g[k] + beta * b[k] : b[k];
          u[k] = -lr * ge;
        }
        terms.mu = b;
        return { u: u, state: { mu: b }, terms: terms };
      },
    };
  }

  // Adagrad: gdlab/core/optim/adaptive.py
  function adagradRule(h) {
    return {
      init: function (d) { return { sum: filled(d, h.initial_accumulator_value) }; },
      update: function (g0, state, x, lr, t) {
        var g = decayed(g0, x, h.weight_decay);
        var clr = lr / (1 + (t - 1) * h.lr_decay);
        var d = g.length;
        var s = new Array(d), u = new Array(d);
        for (var i = 0; i < d; i++) {
          s[i] = state.sum[i] + g[i] * g[i];
          var std = h.eps_inside_sqrt ? Math.sqrt(s[i] + h.eps) : Math.sqrt(s[i]) + h.eps;
          u[i] = -clr * g[i] / std;
        }
        return { u: u, state: { sum: s }, terms: { g: g, sum: s, lr_t: clr } };
      },
    };
  }

  // RMSprop: gdlab/core/optim/adaptive.py
  function rmspropRule(h) {
    var alpha = h.alpha;
    return {
      init: function (d) {
        var s = { nu: zeros(d) };
        if (h.centered) s.mu = zeros(d);
        if (h.momentum > 0.0) s.momentum_buffer = zeros(d);
        return s;
      },
      update: function (g0, state, x, lr, t) {
        var g = decayed(g0, x, h.weight_decay);
        var d = g.length;
        var nu = new Array(d), u = new Array(d);
        var mu = h.centered ? new Array(d) : null;
        var buf = h.momentum > 0.0 ? new Array(d) : null;
        for (var i = 0; i < d; i++) {
          nu[i] = alpha * state.nu[i] + (1.0 - alpha) * g[i] * g[i];
          var s = nu[i];
          if (mu) {
            mu[i] = lerp(state.mu[i], g[i], 1.0 - alpha);
            s = nu[i] - mu[i] * mu[i];
          }
          var den = h.eps_inside_sqrt ? Math.sqrt(s + h.eps) : Math.sqrt(s) + h.eps;
          if (buf) {
            buf[i] = h.momentum * state.momentum_buffer[i] + g[i] / den;
            u[i] = -lr * buf[i];
          } else {
            u[i] = -lr * g[i] / den;
          }
        }
        var st = { nu: nu };
        if (mu) st.mu = mu;
        if (buf) st.momentum_buffer = buf;
        return { u: u, state: st, terms: { g: g, nu: nu } };
      },
    };
  }

  // Adam and AdamW: gdlab/core/optim/adam.py
  function adamRule(h, decoupled) {
    var beta1 = h.beta1, beta2 = h.beta2;
    return {
      init: function (d) {
        var s = { mu: zeros(d), nu: zeros(d) };
        if (h.amsgrad) s.nu_max = zeros(d);
        return s;
      },
      update: function (g0, state, x, lr, t) {
        var g = g0;
        var wd = h.weight_decay;
        if (wd !== 0.0 && !decoupled) g = decayed(g0, x, wd);
        var d = g.length;
        var mu = new Array(d), nu = new Array(d), u = new Array(d);
        var numax = h.amsgrad ? new Array(d) : null;
        var stepSize = lr / (1.0 - Math.pow(beta1, t));
        var bc2Sqrt = Math.pow(1.0 - Math.pow(beta2, t), 0.5);
        for (var i = 0; i < d; i++) {
          mu[i] = lerp(state.mu[i], g[i], 1.0 - beta1);
          nu[i] = beta2 * state.nu[i] + (1.0 - beta2) * g[i] * g[i];
          var den;
          if (numax) {
            numax[i] = Math.max(state.nu_max[i], nu[i]);
            den = Math.sqrt(numax[i]) / bc2Sqrt + h.eps;
          } else {
            den = Math.sqrt(nu[i]) / bc2Sqrt + h.eps;
          }
          u[i] = -stepSize * mu[i] / den;
          if (wd !== 0.0 && decoupled) u[i] = -lr * wd * x[i] + u[i];
        }
        var st = { mu: mu, nu: nu };
        if (numax) st.nu_max = numax;
        return {
          u: u, state: st,
          terms: { g: g, mu: mu, nu: nu, bc1: 1.0 - Math.pow(beta1, t),
                   bc2: 1.0 - Math.pow(beta2, t) },
        };
      },
    };
  }

  function makeOptimizer(name, opts) {
    var key = String(name).trim().toLowerCase();
    var h = hyper(key, opts);
    var rule;
    if (key === "gd") rule = momentumRule(0.0, "lesson", false, 0.0, 0.0);
    else if (key === "sgd") {
      rule = momentumRule(h.momentum, "torch", h.nesterov, h.dampening, h.weight_decay);
    } else if (key === "momentum") {
      rule = momentumRule(h.beta, h.form, h.nesterov, h.dampening, h.weight_decay);
    } else if (key === "nesterov") {
      rule = momentumRule(h.beta, h.form, true, 0.0, h.weight_decay);
    } else if (key === "adagrad") rule = adagradRule(h);
    else if (key === "rmsprop") rule = rmspropRule(h);
    else if (key === "adam") rule = adamRule(h, false);
    else rule = adamRule(h, true);
    rule.name = key;
    rule.hyper = h;
    return rule;
  }

  // -- schedules: gdlab/core/schedules.py, with horizon_defaults for a run of n steps --------
  var SCHEDULES = ["constant", "step", "multistep", "exponential", "invscaling", "polynomial",
                   "cosine", "cosine_restarts", "warmup", "onecycle", "dynamic"];

  function pyFloorDiv(a, b) { return Math.floor(a / b); }

  function oneCycle(n) {
    var pct = 0.3, div = 25.0, finalDiv = 1e4;
    var ends = [pct * n - 1, n - 1];
    if (!(ends[0] > 0 && ends[0] < ends[1])) {
      throw new Error("The phases of OneCycleLR are empty or out of order for total_steps=" + n +
                      "; use more steps.");
    }
    return function (t, lr) {
      var initial = lr / div;
      var fin = initial / finalDiv;
      var targets = [[initial, lr], [lr, fin]];
      if (t >= n - 1) return fin;
      var startStep = 0.0;
      for (var i = 0; i < ends.length; i++) {
        var endStep = ends[i];
        if (t <= endStep || i === ends.length - 1) {
          var p = (t - startStep) / (endStep - startStep);
          var a = targets[i][0], b = targets[i][1];
          return b + (a - b) / 2.0 * (Math.cos(Math.PI * p) + 1);
        }
        startStep = endStep;
      }
      return fin;
    };
  }

  function makeSchedule(name, steps) {
    var key = name ? String(name).trim().toLowerCase() : "constant";
    var n = Math.max(Math.floor(steps), 1);
    switch (key) {
      case "constant":
        return function (t, lr) { return lr; };
      case "step": {
        var size = Math.max(pyFloorDiv(n, 3), 1);
        return function (t, lr) { return lr * Math.pow(0.1, pyFloorDiv(t, size)); };
      }
      case "multistep": {
        var ms = [pyFloorDiv(n, 2), pyFloorDiv(3 * n, 4)];
        return function (t, lr) {
          var c = 0;
          for (var i = 0; i < ms.length; i++) if (ms[i] <= t) c++;
          return lr * Math.pow(0.1, c);
        };
      }
      case "exponential": {
        // down to 1 % of the base rate at the last step
        var gamma = Math.pow(0.01, 1.0 / n);
        return function (t, lr) { return lr * Math.pow(gamma, t); };
      }
      case "invscaling":
        return function (t, lr) { return lr / Math.pow(t + 1, 0.25); };
      case "polynomial":
        return function (t, lr) { return lr * Math.pow(1.0 - Math.min(t, n) / n, 1.0); };
      case "cosine":
        return function (t, lr) {
          return 0.0 + (lr - 0.0) * (1 + Math.cos(Math.PI * t / n)) / 2;
        };
      case "cosine_restarts": {
        var T0 = Math.max(pyFloorDiv(n, 4), 1);
        return function (t, lr) {
          var tc = t % T0;
          return 0.0 + (lr - 0.0) * (1 + Math.cos(Math.PI * tc / T0)) / 2;
        };
      }
      case "warmup": {
        var w = Math.max(pyFloorDiv(n, 10), 1), sf = 1.0 / 3.0;
        return function (t, lr) {
          if (t < w) return lr * (sf + (1.0 - sf) * t / w);
          return lr;
        };
      }
      case "onecycle":
        return oneCycle(n);
      case "dynamic":
        return function (t, lr) { return lr * Math.max(0.0, 1.0 - t / n); };
      default:
        throw new Error("Unknown learning-rate schedule '" + name + "'. Valid names are " +
                        SCHEDULES.join(", ") + ".");
    }
  }

  // -- the loop of gdlab.functions.descent._descend, for one start ---------------------------
  var STATUSES = ["converged", "step_limit", "diverged", "left_domain"];

  function descend(fg, opts) {
    var o = opts || {};
    if (!o.start) throw new Error("descend needs a start, e.g. {start: [0.5, 1.0]}.");
    var x = o.start.map(Number);
    var d = x.length;
    var lr = o.lr === undefined ? 0.01 : Number(o.lr);
    if (!(lr > 0 && isFinite(lr))) throw new Error("lr must be a finite number > 0, got " + o.lr);
    var steps = o.steps === undefined ? 1000 : Math.floor(o.steps);
    var tol = o.tol === undefined ? 1e-8 : Number(o.tol);
    var maxNorm = o.max_norm === undefined ? 1e12 : Number(o.max_norm);
    var gradScaled = o.lr_mode === "grad_scaled";
    var opt = makeOptimizer(o.optimizer || "gd", o);
    var sched = makeSchedule(o.schedule, steps);
    var box = o.domain || null;
    var lo = null, hi = null;
    if (box) {
      // a hair of slack so that starts on the boundary of a grid count as inside
      lo = box.map(function (b) { return b[0] - 1e-12 * (b[1] - b[0]); });
      hi = box.map(function (b) { return b[1] + 1e-12 * (b[1] - b[0]); });
    }
    var keepTerms = !!o.terms;
    var state = opt.init(d);
    var points = [], values = [], gradNorms = [], lrs = [], terms = [];
    var status = "step_limit";
    for (var k = 0; k <= steps; k++) {
      var fgk = fg(x);
      var f = fgk[0], g = fgk[1];
      var ss = 0.0, xx = 0.0, finiteX = true, outside = false;
      for (var i = 0; i < d; i++) {
        ss = i === 0 ? g[i] * g[i] : ss + g[i] * g[i];
        xx = i === 0 ? x[i] * x[i] : xx + x[i] * x[i];
        if (!isFinite(x[i])) finiteX = false;
        if (box && !(x[i] >= lo[i] && x[i] <= hi[i])) outside = true;
      }
      var gn = Math.sqrt(ss);
      points.push(x.slice());
      values.push(f);
      gradNorms.push(gn);
      var ok = isFinite(f) && isFinite(gn) && finiteX && Math.sqrt(xx) <= maxNorm;
      if (!ok) { status = "diverged"; break; }
      if (box && outside) { status = "left_domain"; break; }
      if (gn <= tol) { status = "converged"; break; }
      if (k === steps) { status = "step_limit"; break; }
      var lrK = sched(k, lr);
      var lrUsed = gradScaled ? lrK * gn : lrK;
      lrs.push(lrUsed);
      var r = opt.update(g, state, x, lrUsed, k + 1);
      state = r.state;
      if (keepTerms) {
        r.terms.lr = lrUsed;
        r.terms.update = r.u;
        terms.push(r.terms);
      }
      var xn = new Array(d);
      for (var j = 0; j < d; j++) xn[j] = x[j] + r.u[j];
      x = xn;
    }
    var out = { points: points, values: values, grad_norms: gradNorms, lrs: lrs,
                status: status, n_steps: points.length - 1 };
    if (keepTerms) out.terms = terms;
    return out;
  }

  // numpy.linspace: start + i * step, the last point exactly `stop`
  function linspace(a, b, n) {
    var out = new Array(n);
    if (n === 1) { out[0] = a; return out; }
    var step = (b - a) / (n - 1);
    for (var i = 0; i < n; i++) out[i] = i * step + a;
    out[n - 1] = b;
    return out;
  }

  return { lerp: lerp, DEFAULTS: DEFAULTS, SCHEDULES: SCHEDULES, STATUSES: STATUSES,
           makeOptimizer: makeOptimizer, makeSchedule: makeSchedule, descend: descend,
           linspace: linspace };
})();

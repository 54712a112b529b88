(function () {
  "use strict";
  // Polls the JSON listing, keeps the last POINTS request and error rates of every
  // member and AJP worker (in sessionStorage, so that they survive the reload after
  // a change), draws them, and brings states, activations and counters up to date.
  var body = document.body;
  var source = body.getAttribute("data-poll");
  if (!source || !window.fetch || !window.JSON) return;
  var every = (Number(body.getAttribute("data-interval")) || 3) * 1000;
  var POINTS = 30;
  var storeKey = "jkd-status:" + location.pathname;
  var live = document.getElementById("live");
  var liveText = document.getElementById("live-text");
  var toggle = document.getElementById("live-toggle");

  function load(key, fallback) {
    try { var v = JSON.parse(sessionStorage.getItem(key)); return v === null ? fallback : v; }
    catch (e) { return fallback; }
  }
  function save(key, value) {
    try { sessionStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }

  var history = load(storeKey, {});
  var paused = load(storeKey + ":paused", false);
  var rows = {};
  var started = Date.now();
  Array.prototype.forEach.call(document.querySelectorAll("tr[data-series]"), function (row) {
    var id = row.getAttribute("data-series");
    rows[id] = row;
    var h = history[id] || (history[id] = { req: [], err: [] });
    // The page's own counters are the baseline of the first poll.
    h.last = { n: Number(row.getAttribute("data-n")) || 0, e: Number(row.getAttribute("data-e")) || 0, at: started };
  });

  function push(list, value) {
    list.push(Math.round(value * 100) / 100);
    while (list.length > POINTS) list.shift();
  }
  function sample(id, requests, errors, now) {
    var h = history[id] || (history[id] = { req: [], err: [] });
    if (h.last) {
      var seconds = (now - h.last.at) / 1000;
      if (seconds > 0.2) {
        push(h.req, Math.max(0, requests - h.last.n) / seconds);
        push(h.err, Math.max(0, errors - h.last.e) / seconds);
      }
    }
    h.last = { n: requests, e: errors, at: now };
  }

  function fmt(rate) {
    if (rate === 0) return "0/s";
    if (rate < 10) return rate.toFixed(1) + "/s";
    return Math.round(rate) + "/s";
  }
  function draw(cell, values, top) {
    if (!cell) return;
    var line = cell.querySelector(".line"), area = cell.querySelector(".area");
    var rate = cell.querySelector(".rate");
    if (!values.length) { rate.textContent = "\u2013"; return; }
    var step = 100 / (POINTS - 1), x0 = 100 - (values.length - 1) * step, d = "";
    values.forEach(function (v, i) {
      var x = x0 + i * step, y = 27 - (v / top) * 25;
      d += (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    });
    if (values.length === 1) d += "L100 " + (27 - (values[0] / top) * 25).toFixed(1);
    line.setAttribute("d", d);
    cell.classList.toggle("zero", maxOf(values, 0) === 0);
    area.setAttribute("d", d + "L100 28L" + x0.toFixed(1) + " 28Z");
    rate.textContent = fmt(values[values.length - 1]);
  }
  function maxOf(list, floor) {
    return list.reduce(function (m, v) { return v > m ? v : m; }, floor);
  }
  // Members of one balancer share a scale, so that their charts compare.
  function redraw() {
    Array.prototype.forEach.call(document.querySelectorAll("section.card"), function (card) {
      var ids = [];
      Array.prototype.forEach.call(card.querySelectorAll("tr[data-series]"), function (row) {
        ids.push(row.getAttribute("data-series"));
      });
      var topReq = 1, topErr = 1;
      ids.forEach(function (id) {
        var h = history[id];
        if (h) { topReq = maxOf(h.req, topReq); topErr = maxOf(h.err, topErr); }
      });
      ids.forEach(function (id) {
        var h = history[id], row = rows[id];
        if (!h || !row) return;
        draw(row.querySelector(".spark.req"), h.req, topReq * 1.1);
        draw(row.querySelector(".spark.err"), h.err, topErr * 1.1);
      });
    });
  }

  function stateClass(state) {
    if (state === "ERR") return "err";
    if (state.indexOf("ERR") === 0) return "warn";
    return "ok";
  }
  var activationClass = { ACT: "ok", DIS: "dis", STP: "stp" };
  var activationLetter = { ACT: "A", DIS: "D", STP: "S" };
  function setField(row, name, value) {
    var el = row.querySelector('[data-f="' + name + '"]');
    if (el && value !== undefined && el.textContent !== String(value)) el.textContent = value;
    return el;
  }
  function updateMember(row, m) {
    var sc = stateClass(m.state), ac = activationClass[m.activation] || "ok";
    var state = setField(row, "state", m.state);
    if (state) state.className = "badge s-" + sc;
    var act = setField(row, "activation", m.activation);
    if (act) act.className = "badge a-" + ac;
    row.className = "member k-" + (sc === "ok" ? ac : sc);
    ["elected", "errors", "busy", "sessions", "lbfactor"].forEach(function (f) { setField(row, f, m[f]); });
    Array.prototype.forEach.call(row.querySelectorAll(".seg button"), function (b) {
      var on = b.className.indexOf("v-" + activationLetter[m.activation]) >= 0;
      b.setAttribute("aria-pressed", on ? "true" : "false");
      b.disabled = on;
    });
    var recover = row.querySelector('button[data-action="recover"]');
    if (recover) recover.classList.toggle("hide", m.state !== "ERR");
  }
  function updateWorker(row, w) {
    ["used", "errors", "client_errors", "reply_timeouts", "busy", "max_busy", "connected", "max_connected"]
      .forEach(function (f) { setField(row, f, w[f]); });
  }
  function cardOf(kind, name) {
    var found = null;
    Array.prototype.forEach.call(document.querySelectorAll("section." + kind), function (c) {
      if (c.getAttribute("data-w") === name) found = c;
    });
    return found;
  }

  function apply(doc) {
    var now = Date.now();
    var lbs = (doc.balancers && doc.balancers.balancer) || [];
    lbs.forEach(function (lb) {
      (lb.member || []).forEach(function (m) {
        var id = "m:" + lb.name + "/" + m.name;
        sample(id, m.elected, m.errors, now);
        if (rows[id]) updateMember(rows[id], m);
      });
      var card = cardOf("lb", lb.name);
      if (card) ["good", "degraded", "bad", "busy"].forEach(function (f) { setField(card, f, lb[f]); });
    });
    var workers = (doc.ajp_workers && doc.ajp_workers.ajp) || [];
    workers.forEach(function (w) {
      var id = "w:" + w.name;
      sample(id, w.used, w.errors, now);
      if (rows[id]) updateWorker(rows[id], w);
    });
    redraw();
    save(storeKey, history);
  }

  function show(state, text) {
    if (!live) return;
    live.className = "live " + state;
    liveText.textContent = text;
  }
  function clock() {
    var d = new Date();
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  var url = new URL(source, location.origin).toString();
  var timer = null;
  function poll() {
    timer = null;
    if (paused) return;
    if (document.hidden) { timer = setTimeout(poll, every); return; }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (doc) { apply(doc); show("on", "live \u00b7 " + clock()); })
      .catch(function (e) { show("off", "offline (" + (e && e.message ? e.message : e) + ")"); })
      .then(function () { if (!paused && !timer) timer = setTimeout(poll, every); });
  }
  function setPaused(p) {
    paused = p;
    save(storeKey + ":paused", p);
    if (toggle) toggle.textContent = p ? "Resume" : "Pause";
    if (p) { if (timer) clearTimeout(timer); timer = null; show("", "paused"); }
    else { show("", "live"); if (!timer) timer = setTimeout(poll, every); }
  }
  if (toggle) toggle.addEventListener("click", function () { setPaused(!paused); });
  redraw();
  setPaused(paused);
})();

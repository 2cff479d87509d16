/* collector tracker: a small, dependency-free script for sites without an analytics library.
 *
 *   <script src="https://collector.example/tracker.js" data-write-key="KEY" async></script>
 *   collector.track("Signed Up", {plan: "team"}); collector.page(); collector.identify("u-1", {});
 *
 * Events are queued in localStorage (so they survive reloads), sent in batches of up to 20 or
 * every 5 s to /v1/batch, retried with backoff on 429, 503 and network errors (honouring
 * Retry-After), and handed to navigator.sendBeacon when the page is hidden or left. Every
 * event carries its own messageId, so a retry can never count twice downstream.
 */
(function (window, document) {
  "use strict";
  if (window.collector && window.collector.version) return;

  var VERSION = "1.0.0";
  var MAX_BATCH = 20;
  var FLUSH_MS = 5000;
  var MAX_QUEUE = 1000;
  var MAX_BACKOFF_MS = 60000;
  // Each page keeps its own queue, so tabs of one site never overwrite each other's events;
  // a queue whose page stopped beating (closed, reloaded, crashed) is adopted by the next.
  var QUEUE_PREFIX = "collector.queue.";
  var ALIVE_PREFIX = "collector.alive.";
  var HEARTBEAT_MS = 5000;
  // Longer than a hidden tab's throttled timers may sleep, so a live tab is never robbed.
  var ORPHANED_MS = 180000;
  var ANONYMOUS_KEY = "collector.anonymousId";
  var USER_KEY = "collector.userId";

  var script = document.currentScript;
  var endpoint = (script && script.getAttribute("data-endpoint")) ||
    (script && script.src ? new URL(script.src).origin : window.location.origin);
  var writeKey = (script && script.getAttribute("data-write-key")) || "";
  var pending = (window.collector && window.collector.q) || [];

  var storage = (function () {
    try {
      var probe = "collector.probe";
      window.localStorage.setItem(probe, probe);
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      var memory = {};
      return {
        getItem: function (k) { return k in memory ? memory[k] : null; },
        setItem: function (k, v) { memory[k] = String(v); },
        removeItem: function (k) { delete memory[k]; }
      };
    }
  })();

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function load(key) {
    try { return JSON.parse(storage.getItem(key) || "null"); } catch (e) { return null; }
  }

  var anonymousId = storage.getItem(ANONYMOUS_KEY);
  if (!anonymousId) {
    anonymousId = uuid();
    storage.setItem(ANONYMOUS_KEY, anonymousId);
  }
  var userId = storage.getItem(USER_KEY);
  // Events not yet acknowledged, oldest first; `sending` marks those in a request right now.
  var tab = uuid();
  var QUEUE_KEY = QUEUE_PREFIX + tab;
  var queue = adoptOrphans();
  var sending = {};
  // Delay before the next retry; grows while failures go on, back to 0 on success.
  var backoffMs = 0;
  var waiting = false;
  var timer = null;

  function save() {
    storage.setItem(QUEUE_KEY, JSON.stringify(queue));
  }

  function beat() {
    storage.setItem(ALIVE_PREFIX + tab, String(Date.now()));
  }

  function adoptOrphans() {
    var adopted = [];
    var now = Date.now();
    var keys = [];
    try {
      for (var i = 0; i < window.localStorage.length; i++) keys.push(window.localStorage.key(i));
    } catch (e) {
      return adopted;
    }
    keys.forEach(function (key) {
      if (!key || key.indexOf(QUEUE_PREFIX) !== 0) return;
      var owner = key.slice(QUEUE_PREFIX.length);
      var alive = parseInt(storage.getItem(ALIVE_PREFIX + owner), 10);
      if (alive && now - alive < ORPHANED_MS) return;  // its page is still open
      adopted = adopted.concat(load(key) || []);
      storage.removeItem(key);
      storage.removeItem(ALIVE_PREFIX + owner);
    });
    var legacy = load("collector.queue");  // queues written before per-page keys
    if (legacy) {
      adopted = adopted.concat(legacy);
      storage.removeItem("collector.queue");
    }
    return adopted;
  }

  function context() {
    return {
      library: {name: "collector-tracker", version: VERSION},
      page: {
        path: window.location.pathname,
        url: window.location.href,
        referrer: document.referrer,
        title: document.title
      },
      userAgent: window.navigator.userAgent,
      webdriver: window.navigator.webdriver === true,
      locale: window.navigator.language
    };
  }

  function enqueue(message) {
    message.messageId = uuid();
    message.anonymousId = anonymousId;
    if (userId) message.userId = userId;
    message.timestamp = new Date().toISOString();
    message.context = context();
    queue.push(message);
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    save();
    if (unsent().length >= MAX_BATCH) flush();
    else schedule(FLUSH_MS);
  }

  function unsent() {
    return queue.filter(function (m) { return !sending[m.messageId]; });
  }

  function schedule(ms) {
    if (timer === null) timer = window.setTimeout(function () { timer = null; flush(); }, ms);
  }

  function forget(batch) {
    var sent = {};
    batch.forEach(function (m) { sent[m.messageId] = true; delete sending[m.messageId]; });
    queue = queue.filter(function (m) { return !sent[m.messageId]; });
    save();
  }

  function release(batch) {
    batch.forEach(function (m) { delete sending[m.messageId]; });
  }

  function flush() {
    if (waiting) return;
    var batch = unsent().slice(0, MAX_BATCH);
    if (batch.length === 0) return;
    batch.forEach(function (m) { sending[m.messageId] = true; });
    window.fetch(endpoint + "/v1/batch", {
      method: "POST",
      keepalive: true,
      headers: {"Content-Type": "application/json", "Authorization": "Basic " + window.btoa(writeKey + ":")},
      body: JSON.stringify({batch: batch, sentAt: new Date().toISOString()})
    }).then(function (response) {
      if (response.ok) {
        backoffMs = 0;
        forget(batch);
        if (unsent().length > 0) flush();
      } else if (response.status === 429 || response.status >= 500) {
        release(batch);
        retryLater(response.headers.get("Retry-After"));
      } else {
        // 400, 401, 413: sending the same batch again cannot succeed.
        if (window.console) window.console.warn("collector: batch refused", response.status);
        forget(batch);
      }
    }, function () {
      release(batch);
      retryLater(null);
    });
  }

  function retryLater(retryAfter) {
    var seconds = parseInt(retryAfter, 10);
    backoffMs = seconds > 0 ? seconds * 1000 : Math.min(MAX_BACKOFF_MS, Math.max(1000, backoffMs * 2));
    waiting = true;
    window.setTimeout(function () { waiting = false; flush(); }, backoffMs * (0.8 + Math.random() * 0.4));
  }

  function beacon() {
    // A beacon is fire-and-forget: hand it events only when the collector was reachable a
    // moment ago. Offline or backing off, they stay in localStorage for the next page.
    if (!window.navigator.sendBeacon || !window.navigator.onLine || waiting) return;
    var batch = unsent();
    while (batch.length > 0) {
      var part = batch.splice(0, MAX_BATCH);
      var body = JSON.stringify({batch: part, sentAt: new Date().toISOString()});
      var url = endpoint + "/v1/beacon?writeKey=" + encodeURIComponent(writeKey);
      // text/plain keeps the beacon a "simple" request: no CORS preflight on unload.
      if (!window.navigator.sendBeacon(url, new Blob([body], {type: "text/plain;charset=UTF-8"}))) return;
      forget(part);
    }
  }

  window.addEventListener("pagehide", function () {
    beacon();
    // Gone: the next page may adopt what is left at once.
    storage.removeItem(ALIVE_PREFIX + tab);
    if (queue.length === 0) storage.removeItem(QUEUE_KEY);
  });
  window.addEventListener("pageshow", beat);
  beat();
  window.setInterval(beat, HEARTBEAT_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") beacon();
  });

  var api = {
    version: VERSION,
    track: function (event, properties) {
      enqueue({type: "track", event: String(event), properties: properties || {}});
    },
    page: function (name, properties) {
      enqueue({type: "page", name: name || document.title, properties: properties || {}});
    },
    identify: function (id, traits) {
      if (id) {
        userId = String(id);
        storage.setItem(USER_KEY, userId);
      }
      enqueue({type: "identify", traits: traits || {}});
    },
    flush: flush,
    anonymousId: function () { return anonymousId; }
  };
  window.collector = api;
  pending.forEach(function (call) { api[call[0]].apply(api, call.slice(1)); });
  if (unsent().length > 0) schedule(0);
})(window, document);

/*! embudo tracker: page views with their category, product views, carts, identify.
 * One script tag:
 *   <script src="https://EMBUDO_HOST/tracker.js" data-write-key="wk_..." defer></script>
 * or call embudo.init({writeKey: "wk_...", host: "https://EMBUDO_HOST", consent: true}).
 * Events are batched (every 2 s or 20 events), kept in localStorage until acknowledged, retried
 * with backoff, and flushed with sendBeacon when the page is hidden. Nothing is stored or sent
 * while consent is false: embudo.consent(false) also clears the queue and the anonymous id.
 */
(function (window, document) {
  "use strict";
  if (window.embudo && window.embudo.__loaded) return;
  var QUEUE_KEY = "embudo_queue", ANON_KEY = "embudo_anonymous_id", USER_KEY = "embudo_user_id",
      CONSENT_KEY = "embudo_consent";
  var config = { writeKey: null, host: "", consent: true, flushMs: 2000, maxBatch: 20, autoPage: true };
  var queue = [], timer = null, sending = false, backoffMs = 1000;

  function storage(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(key);
      if (value === null) window.localStorage.removeItem(key); else window.localStorage.setItem(key, value);
    } catch (e) { /* private mode: keep going in memory */ }
    return null;
  }
  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0; return (c === "x" ? r : (r & 0x3 | 0x8)).toString(16);
    });
  }
  function allowed() { return config.consent && storage(CONSENT_KEY) !== "no"; }
  function anonymousId() {
    var id = storage(ANON_KEY);
    if (!id) { id = uuid(); storage(ANON_KEY, id); }
    return id;
  }
  function context() {
    return {
      library: { name: "embudo.js", version: "1" },
      page: { path: location.pathname, url: location.href, referrer: document.referrer, title: document.title },
      userAgent: navigator.userAgent,
      locale: navigator.language
    };
  }
  function enqueue(message) {
    if (!allowed() || !config.writeKey) return;
    message.messageId = uuid();
    message.anonymousId = anonymousId();
    var user = storage(USER_KEY);
    if (user) message.userId = user;
    message.timestamp = new Date().toISOString();
    message.context = context();
    queue.push(message);
    persist();
    if (queue.length >= config.maxBatch) flush(); else schedule(config.flushMs);
  }
  function persist() { storage(QUEUE_KEY, JSON.stringify(queue.slice(-500))); }
  function schedule(ms) { if (!timer) timer = setTimeout(function () { timer = null; flush(); }, ms); }
  function body(batch) {
    return JSON.stringify({ batch: batch, writeKey: config.writeKey, sentAt: new Date().toISOString() });
  }
  function flush() {
    if (sending || !queue.length || !allowed()) return;
    var batch = queue.slice(0, config.maxBatch);
    sending = true;
    fetch(config.host + "/v1/batch", {
      method: "POST", body: body(batch), keepalive: true,
      headers: { "Content-Type": "text/plain" }
    }).then(function (response) {
      sending = false;
      // 2xx: stored. 400: the messages themselves are bad and retrying will not help.
      if (response.ok || response.status === 400) {
        queue = queue.slice(batch.length); persist(); backoffMs = 1000;
        if (queue.length) schedule(0);
      } else { retry(); }
    }, function () { sending = false; retry(); });
  }
  function retry() { backoffMs = Math.min(backoffMs * 2, 60000); schedule(backoffMs); }
  function beacon() {
    if (!queue.length || !allowed() || !navigator.sendBeacon) return;
    var batch = queue.slice(0, config.maxBatch);
    if (navigator.sendBeacon(config.host + "/v1/batch", new Blob([body(batch)], { type: "text/plain" }))) {
      queue = queue.slice(batch.length); persist();
    }
  }

  var api = {
    __loaded: true,
    init: function (options) {
      for (var key in options) if (Object.prototype.hasOwnProperty.call(options, key)) config[key] = options[key];
      try { queue = JSON.parse(storage(QUEUE_KEY) || "[]"); } catch (e) { queue = []; }
      if (config.autoPage) api.page();
      if (queue.length) schedule(0);
    },
    /** Records a page view; `category` (blog, product, comparison, …) overrides the path rules. */
    page: function (name, properties) {
      properties = properties || {};
      var meta = document.querySelector('meta[name="embudo:category"]');
      if (!properties.category && meta) properties.category = meta.getAttribute("content");
      properties.path = properties.path || location.pathname;
      properties.url = properties.url || location.href;
      properties.referrer = properties.referrer || document.referrer;
      enqueue({ type: "page", name: name || document.title, properties: properties });
    },
    track: function (event, properties) { enqueue({ type: "track", event: event, properties: properties || {} }); },
    identify: function (userId, traits) {
      if (userId) storage(USER_KEY, String(userId));
      enqueue({ type: "identify", traits: traits || {} });
    },
    productViewed: function (product) { api.track("Product Viewed", product); },
    productAdded: function (product) { api.track("Product Added", product); },
    cartViewed: function (cart) { api.track("Cart Viewed", cart); },
    /** Gives or withdraws consent. Withdrawing clears the queue and the ids kept here. */
    consent: function (given) {
      config.consent = !!given;
      storage(CONSENT_KEY, given ? "yes" : "no");
      if (!given) { queue = []; storage(QUEUE_KEY, null); storage(ANON_KEY, null); storage(USER_KEY, null); }
    },
    reset: function () { storage(USER_KEY, null); storage(ANON_KEY, null); },
    flush: flush,
    anonymousId: anonymousId
  };
  window.embudo = api;
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") beacon(); });

  var script = document.currentScript;
  if (script && script.getAttribute("data-write-key")) {
    var src = script.getAttribute("src") || "";
    api.init({
      writeKey: script.getAttribute("data-write-key"),
      host: src.replace(/\/tracker\.js.*$/, ""),
      consent: script.getAttribute("data-consent") !== "false"
    });
  }
})(window, document);

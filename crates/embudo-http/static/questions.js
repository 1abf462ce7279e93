/*! embudo questions: shows the one survey question embudo chooses for this visitor, if any.
 * One script tag, after the tracker:
 *   <script src="https://EMBUDO_HOST/v1/questions.js" data-write-key="wk_..." data-lang="es" defer></script>
 * The question goes into the element `data-container` names (a CSS selector, default
 * `#embudo-question`), or, when there is none, into a small panel in a corner of the page.
 * It uses the anonymous id the embudo tracker keeps (localStorage "embudo_anonymous_id") and
 * the user id of embudo.identify; it sets no cookie and stores nothing of its own. While the
 * visitor has not consented (tracker consent "no", or data-consent="false"), it does nothing.
 * embudo.questions.show() asks again (for example after consent is given).
 */
(function (window, document) {
  "use strict";
  var ANON_KEY = "embudo_anonymous_id", USER_KEY = "embudo_user_id", CONSENT_KEY = "embudo_consent";
  var script = document.currentScript;
  var config = {
    writeKey: script && script.getAttribute("data-write-key"),
    host: script ? (script.getAttribute("src") || "").replace(/\/v1\/questions\.js.*$/, "") : "",
    lang: (script && script.getAttribute("data-lang")) || (navigator.language || "es").slice(0, 2),
    container: (script && script.getAttribute("data-container")) || "#embudo-question",
    consent: !script || script.getAttribute("data-consent") !== "false"
  };
  if (config.lang !== "en") config.lang = "es";
  var THANKS = { es: "¡Gracias!", en: "Thank you!" }, CLOSE = { es: "Cerrar", en: "Close" };

  function read(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function allowed() { return config.consent && read(CONSENT_KEY) !== "no"; }
  function person() {
    var user = read(USER_KEY);
    if (user) return { userId: user };
    var anonymous = read(ANON_KEY);
    if (!anonymous && window.embudo && window.embudo.anonymousId) anonymous = window.embudo.anonymousId();
    return anonymous ? { anonymousId: anonymous } : null;
  }
  function query(who) {
    var parts = ["writeKey=" + encodeURIComponent(config.writeKey), "lang=" + config.lang];
    for (var key in who) parts.push(key + "=" + encodeURIComponent(who[key]));
    return parts.join("&");
  }
  function target() {
    var found = document.querySelector(config.container);
    if (found) return { node: found, panel: false };
    var panel = document.createElement("div");
    panel.setAttribute("role", "dialog");
    panel.className = "embudo-question-panel";
    panel.style.cssText = "position:fixed;right:16px;bottom:16px;max-width:320px;z-index:2147483000;" +
      "background:#fff;color:#222;border:1px solid #ccc;border-radius:8px;padding:12px 14px;" +
      "box-shadow:0 4px 16px rgba(0,0,0,.15);font:14px/1.4 system-ui,sans-serif";
    document.body.appendChild(panel);
    return { node: panel, panel: true };
  }
  function render(question, who) {
    var place = target(), node = place.node;
    while (node.firstChild) node.removeChild(node.firstChild);
    var title = document.createElement("p");
    title.className = "embudo-question-text";
    title.style.margin = "0 0 8px";
    title.textContent = question.text;
    node.appendChild(title);
    question.answers.forEach(function (answer) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "embudo-question-answer";
      button.style.cssText = "display:block;width:100%;margin:4px 0;padding:6px 8px;text-align:left;cursor:pointer";
      button.textContent = answer.text;
      button.addEventListener("click", function () { send(question.id, answer.id, who, node, place.panel); });
      node.appendChild(button);
    });
    if (place.panel) {
      var close = document.createElement("button");
      close.type = "button";
      close.setAttribute("aria-label", CLOSE[config.lang]);
      close.textContent = "×";
      close.style.cssText = "position:absolute;top:4px;right:8px;border:0;background:none;font-size:18px;cursor:pointer";
      close.addEventListener("click", function () { node.parentNode && node.parentNode.removeChild(node); });
      node.appendChild(close);
    }
  }
  function send(questionId, answerId, who, node, panel) {
    var body = { writeKey: config.writeKey, questionId: questionId, answerId: answerId };
    for (var key in who) body[key] = who[key];
    fetch(config.host + "/v1/answers", {
      method: "POST", body: JSON.stringify(body), keepalive: true,
      headers: { "Content-Type": "text/plain" }
    }).then(function (response) {
      if (!response.ok) return;
      while (node.firstChild) node.removeChild(node.firstChild);
      var thanks = document.createElement("p");
      thanks.style.margin = "0";
      thanks.textContent = THANKS[config.lang];
      node.appendChild(thanks);
      if (panel) setTimeout(function () { node.parentNode && node.parentNode.removeChild(node); }, 1500);
    }, function () { /* offline: the question is asked again on a later visit */ });
  }
  function show() {
    if (!config.writeKey || !allowed()) return;
    var who = person();
    if (!who) return;
    fetch(config.host + "/v1/questions/next?" + query(who)).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (next) {
      if (next && next.ask) render(next.question, who);
    }, function () { /* no question this time */ });
  }

  window.embudo = window.embudo || {};
  window.embudo.questions = { show: show };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show); else show();
})(window, document);

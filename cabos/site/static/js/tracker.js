/* cabos tracker: first-party, no dependencies, no build step.
   Measures one page view of the element carrying data-view: engaged time (page visible
   and reader active; pauses when hidden or idle 30 s, or 10 min while the reader is inside
   a video or other frame of the article), deepest scroll, end reached, CTA clicks.
   Sends on visibilitychange→hidden and pagehide (sendBeacon, else fetch keepalive).
   Also drives the consent banner. Settings come from this script tag's data-* attributes. */
(function () {
  "use strict";
  var d = document, w = window, n = navigator, me = d.currentScript;
  if (!me) return;
  // Idle after 30 s without input; but a reader inside a frame (a video, a map) gives the page
  // no input at all while watching, so focus in a frame counts as reading for up to 10 min.
  var cfg = me.dataset, mode = cfg.mode, IDLE = 30000, WATCH = 600000, watching = false;
  var page = d.querySelector("[data-view]");
  var dnt = n.doNotTrack == "1" || w.doNotTrack == "1" || n.globalPrivacyControl === true;

  function choice() {
    var m = d.cookie.match(new RegExp("(?:^|; )" + cfg.cookie + "=([^;]*)"));
    return m ? m[1] : "";
  }
  // Consent "required": not one beacon before the visitor accepts. Otherwise the server
  // decides how much to keep (DNT/GPC or a "no" keep only the article's view count).
  function allowed() { return mode != "required" || choice() == "yes"; }

  /* Consent banner, and the footer buttons to withdraw (one click) or choose again. */
  var banner = d.getElementById("consent"), quit = d.getElementById("consent-withdraw"),
      again = d.getElementById("consent-open");
  function show() {
    var c = choice(), asked = mode != "off";
    if (banner) banner.hidden = !asked || !!c;
    if (quit) quit.hidden = !asked || c == "no" || !allowed();
    if (again) again.hidden = !asked || !c || c == "yes";
  }
  function decide(c) {
    // Answer the click at once; show() redraws from the cookie when the server has answered
    // (and brings the banner back if the choice could not be recorded).
    if (banner) banner.hidden = true;
    if (quit) quit.hidden = true;
    fetch(cfg.consentUrl, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({choice: c})})
      .then(show, show);
  }
  d.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target : e.target.parentElement, b = t && t.closest("[data-consent]");
    if (b) decide(b.getAttribute("data-consent"));
    if (t && t.closest("#consent-withdraw")) decide("decline");
    if (t && t.closest("#consent-open") && banner) { banner.hidden = false; banner.querySelector("button").focus(); }
    var a = t && t.closest("[data-cta]");
    if (a && page) {
      var name = a.getAttribute("data-cta");
      if (ctas.indexOf(name) < 0 && ctas.length < 20) ctas.push(name);
      send();
    }
  }, true);
  show();
  if (!page) return;

  /* Engaged time: spans of visible, active time; a span ends IDLE ms after the last input. */
  var now = function () { return performance.now(); };
  var engaged = 0, since = 0, last = now(), depth = 0, seq = 0, sent = "", ctas = [];
  var bytes = new Uint8Array(16);
  (w.crypto || w.msCrypto).getRandomValues(bytes);
  var nonce = Array.prototype.map.call(bytes, function (b) { return (b | 256).toString(16).slice(1); }).join("");
  var visible = function () { return d.visibilityState == "visible"; };

  function tick(t) {
    if (!since) return;
    var stop = Math.min(t, last + (watching ? WATCH : IDLE));
    if (stop > since) engaged += stop - since;
    since = stop == t ? t : 0;
  }
  function active() {
    var t = now();
    tick(t);
    last = t;
    if (visible() && !since) since = t;
  }
  var pending = false;
  function measure() {
    pending = false;
    var r = page.getBoundingClientRect(), h = r.height || 1;
    var p = Math.round(Math.max(0, Math.min(100, (w.innerHeight - r.top) / h * 100)));
    if (p > depth) depth = p;
  }
  function send() {
    if (!allowed()) return;
    tick(now());
    measure();
    var ms = Math.round(engaged), body = {
      token: page.getAttribute("data-view"), nonce: nonce, seq: seq, engaged_ms: Math.min(ms, 86400000),
      scroll_pct: depth, read_to_end: depth >= 100, age_ms: Math.min(Math.round(now()), 86400000),
      ctas: ctas, query: location.search.slice(0, 1000), referrer: d.referrer.slice(0, 2000),
      dnt: dnt, webdriver: !!n.webdriver
    };
    var key = [ms, depth, ctas.length].join();
    if (key == sent) return;  // hidden and pagehide come together: one send
    sent = key;
    seq++;
    var s = JSON.stringify(body);
    if (!(n.sendBeacon && n.sendBeacon(cfg.endpoint, s))) {
      fetch(cfg.endpoint, {method: "POST", body: s, keepalive: true, credentials: "same-origin"})
        .catch(function () {});
    }
  }

  ["mousemove", "mousedown", "keydown", "touchstart", "wheel", "scroll"].forEach(function (type) {
    w.addEventListener(type, active, {passive: true, capture: true});
  });
  w.addEventListener("scroll", function () {
    if (!pending) { pending = true; w.requestAnimationFrame(measure); }
  }, {passive: true});
  function leave() {  // hidden, or the page goes away: the clock stops, then one send
    tick(now());
    since = 0;
    send();
  }
  w.addEventListener("blur", function () {  // focus went into a frame of this page: watching it
    setTimeout(function () {
      var el = d.activeElement;
      if (el && el.tagName == "IFRAME" && page.contains(el)) { active(); watching = true; }
    }, 0);
  });
  w.addEventListener("focus", function () { tick(now()); watching = false; active(); });
  d.addEventListener("visibilitychange", function () { visible() ? active() : leave(); });
  w.addEventListener("pagehide", leave);
  if (visible()) since = last;
  measure();
})();

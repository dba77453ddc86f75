/* Offers Feedback loader: <script src="https://<us>/widget.js" async data-key data-offer ...>.
   Inserts one iframe on our origin per widget, sizes it from origin-checked messages, and
   never throws into or restyles the host page. Globals: window.OffersFeedback only. */
(function () {
  try {
    var script = document.currentScript;
    if (!script || !script.src) return;
    var data = script.dataset;
    var origin = new URL(script.src).origin;
    var ns = (window.OffersFeedback = window.OffersFeedback || { frames: {} });
    var slot = [data.key, data.offer, data.outlet, data.bank, data.target].join("|");
    if (ns.frames[slot]) return; // the same widget included twice: keep one
    var device = "";
    if (!data.userId) {
      try {
        device = localStorage.getItem("offers-feedback-device") || "";
        if (!device) {
          device = crypto.randomUUID();
          localStorage.setItem("offers-feedback-device", device);
        }
      } catch (e) {
        device = device || String(Math.random()).slice(2) + Date.now();
      }
    }
    var query = new URLSearchParams({
      key: data.key || "", offer: data.offer || "", outlet: data.outlet || "", bank: data.bank || "",
      lang: data.lang || navigator.language || "", theme: data.theme || "",
      uid: data.userId || "", sig: data.userSig || "", device: device
    });
    var frame = document.createElement("iframe");
    frame.src = origin + "/widget/frame?" + query;
    frame.title = data.lang === "hi" ? "ऑफ़र की शिकायत" : "Report a refused offer";
    frame.allow = "geolocation";
    frame.referrerPolicy = "origin"; // tells us which page embeds the frame
    var style = {
      display: "block", width: "100%", "max-width": "480px", height: "440px", border: "0",
      margin: "0", padding: "0", opacity: "1", visibility: "visible", "color-scheme": "normal",
      position: "static", transform: "none", filter: "none", "min-height": "0", "max-height": "none"
    };
    for (var name in style) frame.style.setProperty(name, style[name], "important");
    var target = data.target && document.querySelector(data.target);
    if (target) target.appendChild(frame);
    else script.parentNode.insertBefore(frame, script.nextSibling);
    ns.frames[slot] = frame;
    var heard = false;
    var warn = function (problem) {
      if (window.console && console.warn) console.warn("Offers Feedback widget (data-key " + (data.key || "missing") + "): " + problem);
    };
    var hide = function () { frame.style.setProperty("display", "none", "important"); };
    // Set-up problems: the bank's developers hear of them here; customers see nothing broken.
    var setup = {
      unknown_key: "unknown data-key: copy the widget_key that create-client printed.",
      signature: "data-user-sig does not match data-user-id: sign the id with the widget secret (docs/widget.md).",
      bank_needed: "this key belongs to a network: add data-bank with the customer's bank code.",
      unknown_offer: "unknown data-offer (or data-outlet) code for this key.",
      not_allowed: "this page's origin " + location.origin + " is not allowed: run.py widget-origins --add " + location.origin
    };
    frame.addEventListener("load", function () {
      setTimeout(function () {
        if (heard) return;
        warn("the frame did not open. Is this page's origin (" + location.origin + ") allowed for this key " +
             "(run.py widget-origins --add " + location.origin + ") and data-key right?");
        hide();
      }, 5000);
    });
    window.addEventListener("message", function (event) {
      var message = event.data;
      if (event.origin !== origin || event.source !== frame.contentWindow) return;
      if (!message || message.ns !== "offers-feedback") return;
      heard = true;
      if (message.type === "problem" && setup[message.code]) {
        warn(setup[message.code]);
        hide();
      } else if (message.type === "resize") {
        var height = Math.min(Math.max(parseInt(message.height, 10) || 0, 100), 2000);
        frame.style.setProperty("height", height + "px", "important");
      } else if (message.type === "reveal") {
        // Scroll the page (never the other way) until that point of the frame is in sight.
        var below = frame.getBoundingClientRect().top + Math.min(parseInt(message.bottom, 10) || 0, 2000) + 12
          - window.innerHeight;
        if (below > 0) window.scrollBy({ top: below, behavior: "smooth" });
      }
    });
  } catch (e) {
    /* Never break the bank's page. */
  }
})();

// Offers Feedback frame: on click 1 ask where the customer is (in context, with a time
// limit), then let htmx send the choice; keep the host page's iframe as tall as the view.
(function () {
  "use strict";
  var hostOrigins = (document.body.dataset.hostOrigins || "").split(" ").filter(Boolean);

  function reportHeight() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    hostOrigins.forEach(function (origin) {
      window.parent.postMessage({ ns: "offers-feedback", type: "resize", height: height }, origin);
    });
  }
  if (window.parent !== window) {
    reportHeight();  // at once: the loader takes a frame that never speaks for one the browser refused
    if (window.ResizeObserver) new ResizeObserver(reportHeight).observe(document.body);
  }
  if (document.body.dataset.problem) {  // the loader tells the bank's developers (console)
    hostOrigins.forEach(function (origin) {
      window.parent.postMessage({ ns: "offers-feedback", type: "problem", code: document.body.dataset.problem }, origin);
    });
  }

  function send(form, values) {
    if (form.dataset.sent) return;
    form.dataset.sent = "1";
    Object.keys(values).forEach(function (name) {
      var input = form.querySelector('input[type="hidden"][name="' + name + '"]');
      input.value = values[name];
      input.disabled = false;
    });
    form.dispatchEvent(new Event("located"));
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-locate")) return;
    event.preventDefault();
    if (form.dataset.asked) return;
    form.dataset.asked = "1";
    var status = form.querySelector(".status");
    status.textContent = status.dataset.locating;
    var chosen = event.submitter ? event.submitter.value : "";
    var finish = function (extra) {
      extra.feedback_type = chosen;
      send(form, extra);
    };
    if (!navigator.geolocation) return finish({ location_status: "unsupported" });
    // The browser's own timeout does not count the time its permission prompt is open.
    var timer = setTimeout(function () { finish({ location_status: "timeout" }); }, 10000);
    navigator.geolocation.getCurrentPosition(function (position) {
      clearTimeout(timer);
      finish({
        user_latitude: position.coords.latitude,
        user_longitude: position.coords.longitude,
        user_accuracy: Math.round(position.coords.accuracy),
        location_status: "granted"
      });
    }, function (error) {
      clearTimeout(timer);
      finish({ location_status: error.code === 1 ? "denied" : error.code === 3 ? "timeout" : "unavailable" });
    }, { enableHighAccuracy: true, timeout: 8000, maximumAge: 60000 });
  });

  // After a swap, put focus on the new view's heading so keyboard users carry on from there
  // (without scrolling), and ask the host page to bring the view's button into sight: on a
  // small phone "Send report" is below the fold after the first tap.
  document.addEventListener("htmx:after:swap", function () {
    var heading = document.querySelector("#view h1");
    if (heading) heading.focus({ preventScroll: true });
    var button = document.querySelector('#view button[type="submit"]');
    if (!button) return;
    var bottom = Math.ceil(button.getBoundingClientRect().bottom);
    hostOrigins.forEach(function (origin) {
      window.parent.postMessage({ ns: "offers-feedback", type: "reveal", bottom: bottom }, origin);
    });
  });
})();

// Copy buttons of the admin console: shown only where this runs (without JavaScript the
// secret stays selectable text), each copies the text of the element its data-copy names.
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  button.hidden = !navigator.clipboard;
  button.addEventListener("click", function () {
    var source = document.getElementById(button.dataset.copy);
    navigator.clipboard.writeText(source.value !== undefined ? source.value : source.textContent).then(function () {
      button.textContent = "Copied";
    }, function () {
      button.textContent = "Select and copy it";
    });
  });
});

// The leaderboard's period: changing a date makes it "From … to …" (the dates shown are
// the period's), before htmx sends the form (this runs first, in the capture phase).
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field.matches && field.matches(".filters input[type=date]")) {
    var period = field.form.querySelector("select[name=period]");
    if (period) period.value = "custom";
  }
}, true);

/* Staff pages: the outcome form shows only the fields of the chosen outcome.
   Without this script every field is shown and the server ignores the ones that do not apply. */
(function () {
  "use strict";
  document.querySelectorAll("[data-outcome-form]").forEach(function (form) {
    function update() {
      var chosen = form.querySelector("input[name=kind]:checked");
      var kind = chosen ? chosen.value : "";
      form.querySelectorAll("[data-for]").forEach(function (el) {
        var on = el.getAttribute("data-for").split(" ").indexOf(kind) >= 0;
        el.hidden = !on;
        el.querySelectorAll("select, input, textarea").forEach(function (field) {
          field.disabled = !on;
          if (field.tagName === "SELECT" || field.name === "revenue") { field.required = on; }
        });
      });
    }
    form.addEventListener("change", update);
    update();
  });
})();

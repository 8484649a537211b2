// Item filters for the ftdecide report. Without JavaScript every item stays
// visible and the controls stay hidden; nothing here is needed to read the page.
(function () {
  "use strict";
  var list = document.getElementById("item-list");
  var controls = document.getElementById("item-controls");
  if (!list || !controls) { return; }
  var items = Array.prototype.slice.call(list.querySelectorAll(".item"));
  var haystacks = items.map(function (el) {
    return Array.prototype.map.call(el.querySelectorAll(".t"), function (t) {
      return t.textContent;
    }).join("\n").toLowerCase();
  });
  var buttons = Array.prototype.slice.call(controls.querySelectorAll("button[data-filter]"));
  var search = document.getElementById("item-search");
  var shown = document.getElementById("item-shown");
  var mode = "all";

  function apply() {
    var q = search.value.trim().toLowerCase();
    var n = 0;
    items.forEach(function (el, i) {
      var ok = mode === "all" ||
        (mode === "wrong" && el.getAttribute("data-wrong") === "1") ||
        (mode === "disagree" && el.getAttribute("data-disagree") === "1");
      if (ok && q) { ok = haystacks[i].indexOf(q) !== -1; }
      el.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + items.length + " items shown";
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      mode = b.getAttribute("data-filter");
      buttons.forEach(function (o) { o.setAttribute("aria-pressed", o === b ? "true" : "false"); });
      apply();
    });
  });
  search.addEventListener("input", apply);
  controls.hidden = false;
  apply();

  // Printing shows the collapsed prompts too.
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
}());

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

// Review mode: a person marks items (pass / fail or 1-5, and a comment) and
// downloads the marks as the human_labels file the next run calibrates its
// judge with. Marks live in localStorage under the run id, so they survive a
// reload and never leave the browser. Every control is built with
// createElement and textContent: nothing from the data is parsed as markup.
(function () {
  "use strict";
  var bar = document.getElementById("review");
  var list = document.getElementById("item-list");
  if (!bar || !list) { return; }
  var SCALES = { "pass-fail": ["pass", "fail"], "5": ["1", "2", "3", "4", "5"] };
  var runId = bar.getAttribute("data-run-id") || "";
  var fileName = bar.getAttribute("data-file") || "human_labels.csv";
  var storeKey = "ftdecide-review:" + runId;
  var items = Array.prototype.slice.call(list.querySelectorAll(".item[data-id]"));
  var toggle = document.getElementById("review-toggle");
  var scaleSel = document.getElementById("review-scale");
  var countEl = document.getElementById("review-count");
  var download = document.getElementById("review-download");
  var clear = document.getElementById("review-clear");
  var status = document.getElementById("review-status");
  var forms = null;  // built on first use: a page nobody reviews gets no extra controls
  var clearTimer = null;

  var storage = null;
  try {
    storage = window.localStorage;
    storage.getItem(storeKey);
  } catch (e) {
    storage = null;
  }

  function defaultScale() {
    var s = bar.getAttribute("data-scale");
    return SCALES.hasOwnProperty(s) ? s : "pass-fail";
  }

  // state.marks: item id -> {label, comment}; a Map, so no id can collide with an object's own keys.
  function load() {
    var state = { scale: defaultScale(), on: false, marks: new Map() };
    var raw = null;
    try { raw = storage ? storage.getItem(storeKey) : null; } catch (e) { raw = null; }
    if (!raw) { return state; }
    try {
      var saved = JSON.parse(raw);
      if (saved && SCALES.hasOwnProperty(saved.scale)) { state.scale = saved.scale; }
      state.on = saved && saved.on === true;
      (saved && Array.isArray(saved.marks) ? saved.marks : []).forEach(function (m) {
        if (!m || typeof m.id !== "string") { return; }
        var label = SCALES[state.scale].indexOf(m.label) !== -1 ? m.label : "";
        var comment = typeof m.comment === "string" ? m.comment : "";
        if (label || comment) { state.marks.set(m.id, { label: label, comment: comment }); }
      });
    } catch (e) {
      status.textContent = "The saved marks could not be read; starting afresh.";
    }
    return state;
  }

  var state = load();

  function save() {
    if (!storage) {
      status.textContent = "This browser keeps no local storage for this page: marks last until it is closed.";
      return;
    }
    var marks = [];
    state.marks.forEach(function (m, id) { marks.push({ id: id, label: m.label, comment: m.comment }); });
    try {
      storage.setItem(storeKey, JSON.stringify({ version: 1, run: runId, scale: state.scale, on: state.on,
                                                 marks: marks }));
    } catch (e) {
      status.textContent = "Marks could not be saved (" + e.name + "); download them now.";
    }
  }

  function labelled() {
    var n = 0;
    state.marks.forEach(function (m) { if (m.label) { n += 1; } });
    return n;
  }

  function mark(id) {
    return state.marks.get(id) || { label: "", comment: "" };
  }

  function setMark(id, label, comment) {
    if (label || comment) { state.marks.set(id, { label: label, comment: comment }); } else { state.marks.delete(id); }
    save();
  }

  function paint(el) {
    var id = el.getAttribute("data-id");
    var m = mark(id);
    el.setAttribute("data-review", m.label);
    if (!forms) { return; }
    var form = forms.get(el);
    Array.prototype.forEach.call(form.querySelectorAll("button[data-label]"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-label") === m.label ? "true" : "false");
    });
    var input = form.querySelector("input");
    if (input.value !== m.comment) { input.value = m.comment; }
  }

  function fillButtons(form, id) {
    var box = form.querySelector(".rv-buttons");
    while (box.firstChild) { box.removeChild(box.firstChild); }
    SCALES[state.scale].forEach(function (label) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "rv rv-" + label;
      b.setAttribute("data-label", label);
      b.setAttribute("aria-pressed", "false");
      b.textContent = label;
      b.addEventListener("click", function () {
        var m = mark(id);
        setMark(id, m.label === label ? "" : label, m.comment);  // a second click takes the mark back
        update();
      });
      box.appendChild(b);
    });
  }

  function buildForms() {
    forms = new Map();
    items.forEach(function (el) {
      var id = el.getAttribute("data-id");
      var form = document.createElement("div");
      form.className = "review";
      form.setAttribute("role", "group");
      form.setAttribute("aria-label", "your mark for item " + id);
      var title = document.createElement("span");
      title.className = "rv-title";
      title.textContent = "your mark";
      var box = document.createElement("span");
      box.className = "rv-buttons";
      var input = document.createElement("input");
      input.type = "text";
      input.className = "rv-comment";
      input.maxLength = 2000;
      input.placeholder = "comment (optional)";
      input.setAttribute("aria-label", "comment on item " + id);
      input.addEventListener("input", function () {
        setMark(id, mark(id).label, input.value);
        update();
      });
      form.appendChild(title);
      form.appendChild(box);
      form.appendChild(input);
      fillButtons(form, id);
      el.appendChild(form);
      forms.set(el, form);
    });
  }

  function update() {
    var n = labelled();
    var notes = 0;
    state.marks.forEach(function (m) { if (!m.label && m.comment) { notes += 1; } });
    countEl.textContent = n + " of " + items.length + " items marked" +
      (notes ? " · " + notes + " comments without a mark (not downloaded)" : "");
    download.disabled = n === 0;
    clear.disabled = state.marks.size === 0;
    scaleSel.value = state.scale;
    scaleSel.disabled = n > 0;  // marks on two scales would make a file no run can read
    scaleSel.title = n > 0 ? "clear the marks to change the scale" : "";
    toggle.setAttribute("aria-pressed", state.on ? "true" : "false");
    list.classList.toggle("reviewing", state.on);
    if (state.on && !forms) { buildForms(); }
    if (forms) { forms.forEach(function (form) { form.hidden = !state.on; }); }
    items.forEach(paint);
  }

  function csvField(value) {
    var text = String(value);
    return /[",\r\n]/.test(text) || text !== text.trim() ? "\"" + text.replace(/"/g, "\"\"") + "\"" : text;
  }

  function csvText() {
    var rows = [["id", "label", "comment"]];
    var done = new Set();
    items.forEach(function (el) {  // page order first, then marks on items this page lacks
      var id = el.getAttribute("data-id");
      var m = state.marks.get(id);
      if (m && m.label && !done.has(id)) { rows.push([id, m.label, m.comment]); done.add(id); }
    });
    state.marks.forEach(function (m, id) {
      if (m.label && !done.has(id)) { rows.push([id, m.label, m.comment]); done.add(id); }
    });
    return rows.map(function (r) { return r.map(csvField).join(","); }).join("\r\n") + "\r\n";
  }

  toggle.addEventListener("click", function () {
    state.on = !state.on;
    save();
    update();
  });
  scaleSel.addEventListener("change", function () {
    if (labelled() > 0 || !SCALES.hasOwnProperty(scaleSel.value)) { update(); return; }
    state.scale = scaleSel.value;
    if (forms) { forms.forEach(function (form, el) { fillButtons(form, el.getAttribute("data-id")); }); }
    save();
    update();
  });
  download.addEventListener("click", function () {
    var blob = new Blob([csvText()], { type: "text/csv;charset=utf-8" });
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = fileName;
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    status.textContent = "Downloaded " + fileName + " with " + labelled() + " marks.";
  });
  clear.addEventListener("click", function () {
    if (clearTimer === null) {  // two clicks, no dialog: a stray click loses nothing
      clear.textContent = "Click again to clear " + state.marks.size + " marks";
      clearTimer = window.setTimeout(function () { clearTimer = null; clear.textContent = "Clear marks"; }, 4000);
      return;
    }
    window.clearTimeout(clearTimer);
    clearTimer = null;
    clear.textContent = "Clear marks";
    state.marks = new Map();
    save();
    update();
    status.textContent = "Marks cleared.";
  });

  bar.hidden = false;
  update();
}());

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

// Review mode: a person marks answers (pass / fail or 1-5, and a comment) and
// downloads the marks as the human_labels file the next run calibrates its
// judge with. A mark is on one arm's answer to an item: the baseline's unless
// the person picks another arm. Marks live in localStorage under the run id,
// so they survive a reload and never leave the browser. Every control is built
// with createElement and textContent: nothing from the data is parsed as markup.
(function () {
  "use strict";
  var bar = document.getElementById("review");
  var list = document.getElementById("item-list");
  if (!bar || !list) { return; }
  var SCALES = { "pass-fail": ["pass", "fail"], "5": ["1", "2", "3", "4", "5"] };
  var SEP = "\u0000";  // between arm and id in a mark's key: neither can contain it
  var runId = bar.getAttribute("data-run-id") || "";
  var fileName = bar.getAttribute("data-file") || "human_labels.csv";
  var baseline = bar.getAttribute("data-baseline") || "";
  var storeKey = "ftdecide-review:" + runId;
  var items = Array.prototype.slice.call(list.querySelectorAll(".item[data-id]"));
  var toggle = document.getElementById("review-toggle");
  var scaleSel = document.getElementById("review-scale");
  var armSel = document.getElementById("review-arm");
  var countEl = document.getElementById("review-count");
  var download = document.getElementById("review-download");
  var clear = document.getElementById("review-clear");
  var status = document.getElementById("review-status");
  var arms = Array.prototype.map.call(armSel.options, function (o) { return o.value; });
  var armLabel = {};
  Array.prototype.forEach.call(armSel.options, function (o) { armLabel[o.value] = o.getAttribute("data-label") || o.value; });
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

  // state.marks: arm + SEP + item id -> {arm, id, label, comment}; a Map, so no id can collide
  // with an object's own keys.
  function load() {
    var state = { scale: defaultScale(), arm: arms.indexOf(baseline) !== -1 ? baseline : arms[0],
                  on: false, marks: new Map() };
    var raw = null;
    try { raw = storage ? storage.getItem(storeKey) : null; } catch (e) { raw = null; }
    if (!raw) { return state; }
    try {
      var saved = JSON.parse(raw);
      if (saved && SCALES.hasOwnProperty(saved.scale)) { state.scale = saved.scale; }
      if (saved && arms.indexOf(saved.arm) !== -1) { state.arm = saved.arm; }
      state.on = saved && saved.on === true;
      (saved && Array.isArray(saved.marks) ? saved.marks : []).forEach(function (m) {
        if (!m || typeof m.id !== "string" || arms.indexOf(m.arm) === -1) { return; }
        var label = SCALES[state.scale].indexOf(m.label) !== -1 ? m.label : "";
        var comment = typeof m.comment === "string" ? m.comment : "";
        if (label || comment) {
          state.marks.set(m.arm + SEP + m.id, { arm: m.arm, id: m.id, label: label, comment: comment });
        }
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
    state.marks.forEach(function (m) { marks.push({ arm: m.arm, id: m.id, label: m.label, comment: m.comment }); });
    try {
      storage.setItem(storeKey, JSON.stringify({ version: 1, run: runId, scale: state.scale, arm: state.arm,
                                                 on: state.on, marks: marks }));
    } catch (e) {
      status.textContent = "Marks could not be saved (" + e.name + "); download them now.";
    }
  }

  function labelled(arm) {
    var n = 0;
    state.marks.forEach(function (m) { if (m.label && (arm === undefined || m.arm === arm)) { n += 1; } });
    return n;
  }

  function mark(id) {
    return state.marks.get(state.arm + SEP + id) || { arm: state.arm, id: id, label: "", comment: "" };
  }

  function setMark(id, label, comment) {
    var key = state.arm + SEP + id;
    if (label || comment) {
      state.marks.set(key, { arm: state.arm, id: id, label: label, comment: comment });
    } else {
      state.marks.delete(key);
    }
    save();
  }

  function paint(el) {
    var id = el.getAttribute("data-id");
    var m = mark(id);
    el.setAttribute("data-review", m.label);
    Array.prototype.forEach.call(el.querySelectorAll("li.out"), function (li) {
      li.classList.toggle("rv-target", state.on && li.getAttribute("data-arm") === state.arm);
    });
    if (!forms) { return; }
    var form = forms.get(el);
    form.querySelector(".rv-title").textContent = "your mark for the " + armLabel[state.arm] + " answer";
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
    var n = labelled(state.arm);
    var all = labelled();
    var notes = 0;
    state.marks.forEach(function (m) { if (!m.label && m.comment) { notes += 1; } });
    countEl.textContent = n + " of " + items.length + " items marked" +
      (all > n ? " · " + all + " marks on all arms" : "") +
      (notes ? " · " + notes + " comments without a mark (not downloaded)" : "");
    download.disabled = all === 0;
    clear.disabled = state.marks.size === 0;
    scaleSel.value = state.scale;
    scaleSel.disabled = all > 0;  // marks on two scales would make a file no run can read
    scaleSel.title = all > 0 ? "clear the marks to change the scale" : "";
    armSel.value = state.arm;
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

  // The human_labels file: id,label,comment when every mark is on the baseline's answer (a run
  // reads a row without an arm as the baseline's), else with an arm column on every row.
  function csvText() {
    var order = new Map();
    items.forEach(function (el, i) { order.set(el.getAttribute("data-id"), i); });
    var marks = [];
    state.marks.forEach(function (m) { if (m.label) { marks.push(m); } });
    marks.sort(function (a, b) {  // page order, then arm order; marks on items this page lacks last
      var ia = order.has(a.id) ? order.get(a.id) : items.length;
      var ib = order.has(b.id) ? order.get(b.id) : items.length;
      return ia - ib || arms.indexOf(a.arm) - arms.indexOf(b.arm) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
    var withArm = marks.some(function (m) { return m.arm !== baseline; });
    var rows = [withArm ? ["id", "arm", "label", "comment"] : ["id", "label", "comment"]];
    marks.forEach(function (m) {
      rows.push(withArm ? [m.id, m.arm, m.label, m.comment] : [m.id, m.label, m.comment]);
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
  armSel.addEventListener("change", function () {
    if (arms.indexOf(armSel.value) !== -1) { state.arm = armSel.value; }
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

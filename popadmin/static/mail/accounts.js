// Check now without leaving the page: post the form, then ask for the
// account's card until nothing is happening any more. The server words every
// line (retrieval/account_card.py), so the card shows exactly what a reload
// would. Without script the forms post normally and the page comes back.
(function () {
  "use strict";
  // Words from the JavaScript catalog (/jsi18n/, docs/reference/translations.md); English without it.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) {
    return f.replace(/%\(\w+\)s/g, function (m) { return String(o[m.slice(2, -2)]); });
  };
  var POLL_MS = 1000, GIVE_UP_MS = 10 * 60 * 1000;
  var WHO = {true: gettext("Only an administrator can fix this. Ask them:"),
             false: gettext("What you can do:")};

  function field(section, name) { return section.querySelector("[data-field=" + name + "]"); }

  function setText(section, name, text) {
    var el = field(section, name);
    if (el) el.textContent = text;
  }

  function show(section, text, state) {
    var line = section.querySelector(".progress");
    line.textContent = text;
    line.dataset.state = state || "";
  }

  function apply(section, card) {
    ["last_check", "result", "next_check", "push", "failing", "error_summary", "next_step",
     "error"]
      .forEach(function (name) { setText(section, name, card[name]); });
    setText(section, "who", WHO[card.admin_only]);
    field(section, "result").dataset.state = card.last_status;
    var failing = !!card.failing;
    field(section, "failing").hidden = !failing;
    section.querySelector("dt.if-failing").hidden = !failing;
    section.querySelector("[data-show=error]").hidden = !card.error;
    section.dataset.phase = card.phase;
    if (card.run_id !== null) section.dataset.runId = card.run_id;
    show(section, card.line, card.state);
    var refused = section.querySelector("[data-show=refused]");
    var list = field(section, "refused");
    list.replaceChildren.apply(list, card.refused.map(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    refused.hidden = !card.refused.length;
    // A first check still to come may be asked for at once; a queued or running one not.
    setBusy(section, card.active && card.phase !== "due");
  }

  function setBusy(section, busy) {
    var button = section.querySelector("button.check");
    if (button) button.disabled = busy;
  }

  function watch(section) {
    if (section.dataset.watching) return;
    section.dataset.watching = "1";
    setBusy(section, section.dataset.phase !== "due");
    var since = Date.now();

    function stop() { delete section.dataset.watching; setBusy(section, false); }
    function tick() {
      fetch(section.dataset.progressUrl, {headers: {Accept: "application/json"},
                                          credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (p) {
          apply(section, p.card);
          if (!p.card.active) return stop();
          if (Date.now() - since > GIVE_UP_MS) {
            show(section, p.card.line + " " + gettext("(still waiting; reload the page later)"), "");
            return stop();
          }
          setTimeout(tick, POLL_MS);
        })
        .catch(function () {
          show(section, gettext("progress unavailable; reload the page"), "error");
          stop();
        });
    }
    tick();
  }

  function press(form, sections) {
    sections.forEach(function (s) { setBusy(s, true); });
    fetch(form.action, {method: "POST", body: new FormData(form),
                        headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 403) throw new Error(gettext("your group does not allow manual checks"));
        if (!r.ok) throw new Error(interpolate(gettext("the check could not be started (HTTP %(status)s)"),
                                               {status: r.status}, true));
        return r.json();
      })
      .then(function () {
        // Whether queued or not, the card says what is happening (queued,
        // running, paused by the administrator, or checked just now).
        sections.forEach(function (s) { setBusy(s, false); watch(s); });
      })
      .catch(function (err) {
        sections.forEach(function (s) { setBusy(s, false); show(s, err.message, "error"); });
      });
  }

  document.querySelectorAll("form.check-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var one = form.closest("section.account");
      // "Check all" follows the accounts that have a button (enabled ones).
      var all = Array.from(document.querySelectorAll("section.account form.check-form"))
        .map(function (f) { return f.closest("section.account"); });
      press(form, one ? [one] : all);
    });
  });
  // Something already under way when the page loads (a first check still to
  // come, a check queued or running) is followed at once.
  document.querySelectorAll("section.account[data-active]").forEach(watch);
})();

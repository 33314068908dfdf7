// Check now without leaving the page: post the form, then poll each
// account's progress until its run ends. Without script the forms post
// normally and the page comes back with a message.
(function () {
  "use strict";
  var POLL_MS = 1000, GIVE_UP_MS = 10 * 60 * 1000;

  function describe(p) {
    if (!p.status) return "never checked";
    if (p.status === "running") {
      return p.total ? "running: " + p.done + " of " + p.total : "running: checking the server…";
    }
    if (p.status === "ok") return "ok: " + p.delivered + " delivered";
    if (p.status === "partial") return "partly failed: " + p.delivered + " delivered; " + p.error;
    if (p.status === "error") return "error: " + p.error;
    return p.status;
  }

  function show(section, text, state) {
    var line = section.querySelector(".progress");
    line.textContent = text;
    line.dataset.state = state || "";
  }

  function setBusy(section, busy) {
    var button = section.querySelector("button.check");
    if (button) button.disabled = busy;
  }

  // queued: this press enqueued a run, so wait for a run newer than the one
  // known before pressing; otherwise (coalesced) only follow a running one.
  function watch(section, queued) {
    if (section.dataset.watching) return;
    section.dataset.watching = "1";
    setBusy(section, true);
    var before = section.dataset.runId, since = Date.now();
    if (queued) show(section, "queued: waiting for a worker…", "queued");

    function stop() { delete section.dataset.watching; setBusy(section, false); }
    function tick() {
      fetch(section.dataset.progressUrl, {headers: {Accept: "application/json"},
                                          credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (p) {
          var fresh = p.run_id !== null && String(p.run_id) !== before;
          if (p.run_id !== null) section.dataset.runId = p.run_id;
          if (p.status === "running" || fresh) show(section, describe(p), p.status);
          if (p.status === "running" || (queued && !fresh)) {
            if (Date.now() - since > GIVE_UP_MS) {
              show(section, "no worker has started the check yet; reload the page later", "");
              return stop();
            }
            return setTimeout(tick, POLL_MS);
          }
          if (!fresh) show(section, "checked a moment ago: " + describe(p), p.status);
          stop();
        })
        .catch(function () {
          show(section, "progress unavailable; reload the page", "error");
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
        if (r.status === 403) throw new Error("your group does not allow manual checks");
        if (!r.ok) throw new Error("the check could not be started (HTTP " + r.status + ")");
        return r.json();
      })
      .then(function (answer) {
        sections.forEach(function (s) {
          setBusy(s, false);
          watch(s, answer.queued.indexOf(Number(s.dataset.account)) !== -1);
        });
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
  // A run already under way when the page loads is followed at once.
  document.querySelectorAll("section.account[data-status=running]").forEach(function (s) {
    watch(s, false);
  });
})();

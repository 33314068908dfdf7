// Remote account form: show a field only where it applies. A file, not inline
// script (the CSP allows none); the server ignores a hidden field's value too.
"use strict";
// Words from the JavaScript catalog (/jsi18n/, docs/reference/translations.md); English without it.
var gettext = window.gettext || function (s) { return s; };
var interpolate = window.interpolate || function (f, o) {
  return f.replace(/%\(\w+\)s/g, function (m) { return String(o[m.slice(2, -2)]); });
};
(function () {
  function row(name) {
    return document.querySelector(".form-row.field-" + name) ||
      document.querySelector(".field-" + name);
  }
  function value(id) {
    var el = document.getElementById(id);
    return el ? el.value : null;
  }
  var rules = [
    ["keep_days", function () { return value("id_keep_policy") === "keep_days"; }],
    ["verify_tls", function () { return value("id_security") !== "none"; }],
    ["folders", function () { return value("id_protocol") === "imap"; }],
    // An OAuth2 account signs in with its grant (Connect on the account page).
    ["password", function () { return value("id_auth_method") !== "xoauth2" &&
                                      value("id_auth_method") !== "oauthbearer"; }],
  ];
  function apply() {
    rules.forEach(function (rule) {
      var el = row(rule[0]);
      if (el && value("id_keep_policy") !== null) { el.hidden = !rule[1](); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    ["id_keep_policy", "id_security", "id_protocol", "id_auth_method"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener("change", apply); }
    });
    apply();
  });
})();

// Test connection of what the form shows, answered in place: the typed values,
// password included, stay where they are. Save tests first when the connection
// settings changed; a failing test stops the save and offers "Save anyway"
// (the server tests too, for a page without script).
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("popadmin-test");
  var box = document.getElementById("popadmin-trial-result");
  var form = document.getElementById("remoteaccount_form");
  var anyway = document.getElementById("popadmin-save-anyway");
  if (!button || !box || !form) { return; }
  button.hidden = false;
  var CONNECTION = ["protocol", "security", "host", "port", "verify_tls", "username",
                    "auth_method", "password", "folders", "network_restricted"];
  function snapshot() {
    var data = new FormData(form);
    return CONNECTION.map(function (name) { return data.getAll(name).join("\n"); }).join("\0");
  }
  var initial = snapshot();
  var adding = !document.querySelector(".popadmin-status");

  function line(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) { el.className = cls; }
    return el;
  }
  function render(result) {
    box.replaceChildren();
    box.hidden = false;
    box.classList.toggle("ok", !!result.ok);
    box.classList.toggle("failed", !result.ok);
    if (result.ok) {
      box.appendChild(line("p", gettext("Test connection OK:") + " " + result.line, "popadmin-why"));
    } else if (result.errors) {
      box.appendChild(line("p", gettext("Correct these first:"), "popadmin-why"));
      Object.keys(result.errors).forEach(function (name) {
        var label = form.querySelector("label[for=id_" + name + "]");
        result.errors[name].forEach(function (message) {
          box.appendChild(line("p", (label ? label.textContent.replace(/:$/, "") + ": " : "") + message));
        });
      });
    } else {
      box.appendChild(line("p", result.summary, "popadmin-why"));
      if (result.next_step) {
        box.appendChild(line("p", (result.who || gettext("Next step")) + ": " + result.next_step, "popadmin-next"));
      }
      if (result.line) { box.appendChild(line("p", gettext("Server said:") + " " + result.line, "popadmin-raw")); }
    }
  }
  function test() {
    var body = new FormData(form);
    button.disabled = true;
    var label = button.textContent;
    button.textContent = gettext("Testing…");
    return fetch(button.dataset.url, {method: "POST", body: body, credentials: "same-origin",
                                      headers: {Accept: "application/json"}})
      .then(function (r) { return r.json(); })
      .catch(function () {
        return {ok: false, summary: gettext("The test could not be run."),
                next_step: gettext("Reload the page and try again.")};
      })
      .then(function (result) { render(result); return result; })
      .finally(function () { button.disabled = false; button.textContent = label; });
  }
  button.addEventListener("click", function (event) { event.preventDefault(); test(); });

  var tested = false;
  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var saving = submitter && /^_(save|continue|addanother)$/.test(submitter.name);
    var enabled = document.getElementById("id_enabled");
    var box2 = document.getElementById("id_save_anyway");
    if (!saving || tested || (box2 && box2.checked) || (enabled && !enabled.checked)) { return; }
    if (!adding && snapshot() === initial) { return; }
    event.preventDefault();
    test().then(function (result) {
      if (result.ok || result.errors || result.limited || !result.line) {
        tested = true;
        form.requestSubmit(submitter);
        return;
      }
      box.insertBefore(line("p", gettext("Not saved: Test connection failed."), "popadmin-why"), box.firstChild);
      if (anyway) { anyway.hidden = false; }
    });
  });
});

// Server settings from an address (the lookup self-service uses), on the add page.
document.addEventListener("DOMContentLoaded", function () {
  var section = document.querySelector(".popadmin-lookup");
  var button = document.getElementById("popadmin-lookup-button");
  var input = document.getElementById("popadmin-lookup-address");
  var out = document.getElementById("popadmin-lookup-result");
  if (!section || !button || !input || !out) { return; }
  section.hidden = false;
  function set(id, value) {
    var el = document.getElementById(id);
    if (!el) { return; }
    el.value = value;
    el.dispatchEvent(new Event("change", {bubbles: true}));
  }
  function use(s) {
    set("id_protocol", s.protocol);
    set("id_security", s.security);
    set("id_host", s.host);
    set("id_port", String(s.port));
    var user = document.getElementById("id_username");
    if (user && !user.value) { set("id_username", input.value.trim()); }
    var name = document.getElementById("id_name");
    if (name && !name.value) { set("id_name", input.value.trim()); }
  }
  // Google and Microsoft: offer their sign-in where a provider is set up, else say
  // what to set up and link the provider form (retrieval/admin/accounts.sign_in_for).
  function signIn(how) {
    var note = document.createElement("p");
    note.className = "popadmin-lookup-sign-in";
    note.textContent = how.text + " ";
    if (how.offer) {
      var go = document.createElement("button");
      go.type = "button";
      go.className = "button default";
      go.id = "popadmin-lookup-sign-in";
      go.textContent = how.label;
      go.addEventListener("click", function () {
        set("id_auth_method", how.method);
        go.textContent = how.chosen || how.label + ": chosen, press Save";
        go.disabled = true;
      });
      note.appendChild(go);
    } else if (how.configure_url) {
      var link = document.createElement("a");
      link.href = how.configure_url;
      link.id = "popadmin-lookup-configure";
      link.textContent = how.configure_label || "Set up Sign in with " + how.brand;
      note.appendChild(link);
    }
    out.appendChild(note);
  }
  function lookup(event) {
    event.preventDefault();
    out.replaceChildren();
    var p = document.createElement("p");
    p.textContent = gettext("Looking up…");
    out.appendChild(p);
    fetch(button.dataset.url + "?address=" + encodeURIComponent(input.value.trim()),
          {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        out.replaceChildren();
        var found = data.suggestions || [];
        if (!found.length) {
          p.textContent = gettext("No settings found for this address: fill in the server below.");
          out.appendChild(p);
          return;
        }
        use(found[0]);
        p.textContent = interpolate(gettext("Filled in: %(label)s (from the %(source)s)."),
                                    {label: found[0].label, source: found[0].source}, true);
        out.appendChild(p);
        if (data.sign_in) { signIn(data.sign_in); }
        found.slice(1).forEach(function (s) {
          var other = document.createElement("button");
          other.type = "button";
          other.className = "button";
          other.textContent = interpolate(gettext("Use %(label)s"), {label: s.label}, true);
          other.addEventListener("click", function () { use(s); });
          out.appendChild(other);
        });
      });
  }
  button.addEventListener("click", lookup);
  input.addEventListener("keydown", function (event) { if (event.key === "Enter") { lookup(event); } });
});

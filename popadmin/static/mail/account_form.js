// Test connection without reloading the page, so the typed password stays
// in its field (the server never sends it back). Without script the button
// posts the form and the page comes back with the result.
(function () {
  "use strict";
  // Words from the JavaScript catalog (/jsi18n/, docs/reference/translations.md); English without it.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) {
    return f.replace(/%\(\w+\)s/g, function (m) { return String(o[m.slice(2, -2)]); });
  };
  var form = document.getElementById("account-form");
  // Fields shown only when they apply: keep days with "leave a copy for N
  // days", IMAP folders and push with IMAP.
  function only(fieldName, controlName, wanted) {
    var box = document.querySelector(".field-" + fieldName);
    var control = document.getElementById("id_" + controlName);
    if (!box || !control) return;
    function update() { box.hidden = control.value !== wanted; }
    control.addEventListener("change", update);
    update();
  }
  only("keep_days", "keep_policy", "keep_days");
  only("folders", "protocol", "imap");
  only("push", "protocol", "imap");
  // An OAuth2 account signs in at its provider: no password, and the save
  // button says where it goes next.
  function oauth() {
    var method = document.getElementById("id_auth_method");
    return !!method && method.value !== "password";
  }
  (function () {
    var box = document.querySelector(".field-password");
    var method = document.getElementById("id_auth_method");
    var save = document.getElementById("save-button");
    if (!method) return;
    function update() {
      if (box) box.hidden = oauth();
      if (save && save.dataset.oauthLabel) {
        save.textContent = oauth() ? save.dataset.oauthLabel : save.dataset.passwordLabel;
      }
    }
    method.addEventListener("change", update);
    update();
  })();
  var button = document.getElementById("test-button");
  var box = document.getElementById("test-result");
  if (!form || !button || !box) return;
  var WHO = {true: gettext("Only an administrator can fix this. Ask them:"),
             false: gettext("What you can do:")};

  function paragraph(parts) {
    var p = document.createElement("p");
    parts.forEach(function (part) {
      var el = document.createElement(part[0]);
      el.textContent = part[1];
      p.appendChild(el);
      p.appendChild(document.createTextNode(" "));
    });
    return p;
  }

  function render(result) {
    box.replaceChildren();
    box.hidden = false;
    box.classList.toggle("ok", !!result.ok);
    box.classList.toggle("failed", !result.ok);
    if (result.ok) {
      box.appendChild(paragraph([["strong", gettext("Test connection: it works.")], ["span", result.line]]));
    } else if (result.errors) {
      var lines = [];
      Object.keys(result.errors).forEach(function (name) {
        result.errors[name].forEach(function (e) {
          var label = form.querySelector("label[for=id_" + name + "]");
          lines.push((label ? label.textContent + ": " : "") + e.message);
        });
      });
      box.appendChild(paragraph([["strong", gettext("Please correct the form first.")]]));
      lines.forEach(function (line) { box.appendChild(paragraph([["span", line]])); });
    } else {
      box.appendChild(paragraph([["strong", result.summary]]));
      box.appendChild(paragraph([["span", WHO[result.admin_only]], ["span", result.next_step]]));
      var details = document.createElement("details");
      var summary = document.createElement("summary");
      summary.textContent = gettext("Exact error");
      details.appendChild(summary);
      details.appendChild(paragraph([["span", result.line]]));
      box.appendChild(details);
    }
    box.scrollIntoView({block: "nearest"});
  }

  button.addEventListener("click", function (event) {
    event.preventDefault();
    var body = new FormData(form);
    body.set("action", "test");
    button.disabled = true;
    var label = button.textContent;
    button.textContent = gettext("Testing…");
    fetch(form.getAttribute("action"), {method: "POST", body: body, credentials: "same-origin",
                        headers: {Accept: "application/json"}})
      .then(function (r) { return r.json(); })
      .then(render)
      .catch(function () { render({ok: false, summary: gettext("The test could not be run."),
                                   next_step: gettext("Reload the page and try again."),
                                   line: ""}); })
      .finally(function () { button.disabled = false; button.textContent = label; });
  });
})();

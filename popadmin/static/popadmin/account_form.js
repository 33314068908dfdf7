// Remote account form: show a field only where it applies. A file, not inline
// script (the CSP allows none); the server ignores a hidden field's value too.
"use strict";
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

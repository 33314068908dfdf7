// Delivery target form: the password only for a target that signs in with one; an
// OAuth2 target signs in with its grant (Connect). A file, not inline script (the CSP
// allows none).
"use strict";
(function () {
  function apply() {
    var method = document.getElementById("id_auth_method");
    var row = document.querySelector(".form-row.field-password") ||
      document.querySelector(".field-password");
    if (method && row) {
      row.hidden = method.value === "xoauth2" || method.value === "oauthbearer";
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var method = document.getElementById("id_auth_method");
    if (method) { method.addEventListener("change", apply); }
    apply();
  });
})();

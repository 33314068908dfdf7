// The mail page, live: "Check mail" posts without leaving the page, the
// progress of each account's check is shown above the list, and messages
// delivered meanwhile slide into the list (the feed returns what arrived
// since the newest message shown). Without script the forms post normally.
(function () {
  "use strict";
  // Words from the JavaScript catalog (/jsi18n/, docs/reference/translations.md); English without it.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (f, o) {
    return f.replace(/%\(\w+\)s/g, function (m) { return String(o[m.slice(2, -2)]); });
  };
  var app = document.getElementById("mail-app");
  if (!app) return;
  var FAST_MS = 1000, SLOW_MS = 30000, GIVE_UP_MS = 10 * 60 * 1000;
  var list = document.getElementById("message-list");
  var line = document.getElementById("check-progress");
  var latest = parseInt(app.dataset.latest || "0", 10);
  var checking = false, timer = null;
  // Only the first page lists the newest messages; later pages stay as they are.
  var live = app.dataset.first === "yes";

  var side = document.querySelector(".side-toggle");
  if (side && window.matchMedia("(max-width: 40em)").matches) side.open = false;

  function getJSON(url) {
    return fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
  }

  function span(cls, text) {
    var el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  // The wall-clock time the server wrote (its own time zone), in the page's
  // language's order of day, month and year.
  function fullDate(iso) {
    var p = iso.slice(0, 16).split(/[-T:]/).map(Number);
    var moment = new Date(Date.UTC(p[0], p[1] - 1, p[2], p[3], p[4]));
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
        minute: "2-digit", hourCycle: "h23", timeZone: "UTC"}).format(moment);
    } catch (e) {
      return iso.slice(0, 16).replace("T", " ");
    }
  }

  function rowFor(m) {
    var li = document.createElement("li");
    li.className = "msg arrived" + (m.unread ? " unread" : "");
    li.dataset.id = m.id;
    var a = document.createElement("a");
    a.href = m.url;
    var from = span("from", m.sender);
    from.title = m.address;
    a.appendChild(from);
    var when = document.createElement("time");
    when.className = "date";
    when.dateTime = m.datetime;
    when.title = m.full_date || fullDate(m.datetime);
    when.textContent = m.date;
    a.appendChild(when);
    var subject = span("subject", m.subject);
    if (m.unread) subject.prepend(span("visually-hidden", gettext("Unread:") + " "));
    a.appendChild(subject);
    a.appendChild(span("via", m.account + (m.elsewhere ? " · " + gettext("delivered elsewhere") : "")));
    li.appendChild(a);
    return li;
  }

  function setCount(el, n) {
    if (!el) return;
    el.textContent = n;
    el.dataset.unread = n;
    el.setAttribute("aria-label", interpolate(gettext("%(count)s unread"), {count: n}, true));
    el.hidden = !n;
  }

  function apply(feed) {
    var empty = list.querySelector(".empty");
    // Oldest first, each on top: the newest ends up first.
    feed.rows.slice().reverse().forEach(function (m) {
      if (m.id <= latest || list.querySelector('[data-id="' + m.id + '"]')) return;
      if (empty) { empty.remove(); empty = null; }
      list.prepend(rowFor(m));
      latest = Math.max(latest, m.id);
    });
    feed.folders.forEach(function (f) {
      var link = document.querySelector('.folders a[data-folder="' + CSS.escape(f.name) + '"]');
      if (link) setCount(link.querySelector(".count"), f.unread);
    });
    document.querySelectorAll(".side-accounts li[data-account]").forEach(function (li) {
      setCount(li.querySelector(".count"), feed.accounts[li.dataset.account] || 0);
    });
  }

  function poll() {
    if (!live) return Promise.resolve();
    var url = app.dataset.feedUrl + (app.dataset.feedUrl.indexOf("?") < 0 ? "?" : "&") +
      "after=" + latest;
    return getJSON(url).then(apply).catch(function () { /* next tick tries again */ });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () { poll().then(schedule); }, checking ? FAST_MS : SLOW_MS);
  }

  function follow(accounts) {
    var since = Date.now();
    function tick() {
      Promise.all(accounts.map(function (li) { return getJSON(li.dataset.progressUrl); }))
        .then(function (answers) {
          var active = answers.filter(function (p) { return p.card.active; });
          var words = answers.map(function (p, i) {
            var name = accounts[i].querySelector(".name").textContent;
            return name + ": " + (p.card.line || p.card.result);
          });
          line.textContent = words.join(" · ");
          line.dataset.state = answers.some(function (p) {
            return !p.card.active && p.card.run_status === "error";
          }) ? "error" : "";
          if (active.length && Date.now() - since < GIVE_UP_MS) {
            return poll().then(function () { setTimeout(tick, FAST_MS); });
          }
          return poll().then(function () { done(); });
        })
        .catch(function () {
          line.textContent = gettext("progress unavailable; reload the page");
          line.dataset.state = "error";
          done();
        });
    }
    tick();
  }

  function done() {
    checking = false;
    var button = document.querySelector("#check-mail button");
    if (button) button.disabled = false;
    schedule();
  }

  // A wide screen opens a message in the reading pane without reloading the
  // list (its scroll position and live rows stay); a phone shows it on its own.
  var current = list.querySelector("li.current");
  if (current) current.scrollIntoView({block: "nearest"});
  var wide = window.matchMedia("(min-width: 60.01em)");
  list.addEventListener("click", function (event) {
    var link = event.target.closest("li.msg a");
    if (!link || !wide.matches || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) return;
    event.preventDefault();
    fetch(link.href, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelector("article.mail-read").replaceWith(
          doc.querySelector("article.mail-read"));
        var side = document.querySelector(".side-toggle");
        if (side) side.replaceWith(doc.querySelector(".side-toggle"));  // counts after "seen"
        list.querySelectorAll("li.current").forEach(function (li) {
          li.classList.remove("current");
          li.querySelector("a").removeAttribute("aria-current");
        });
        var li = link.closest("li.msg");
        li.classList.add("current");
        li.classList.remove("unread");
        link.setAttribute("aria-current", "true");
        var mark = li.querySelector(".subject .visually-hidden");
        if (mark) mark.remove();
        document.title = doc.title;
        history.pushState(null, "", link.href);
      })
      .catch(function () { window.location.href = link.href; });
  });
  window.addEventListener("popstate", function () { window.location.reload(); });

  var form = document.getElementById("check-mail");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      checking = true;
      line.dataset.state = "";
      line.textContent = gettext("Checking your accounts…");
      fetch(form.action, {method: "POST", body: new FormData(form),
                          headers: {Accept: "application/json"}, credentials: "same-origin"})
        .then(function (r) {
          if (r.status === 403) throw new Error(gettext("your group does not allow manual checks"));
          if (!r.ok) throw new Error(interpolate(gettext("the check could not be started (HTTP %(status)s)"),
                                                 {status: r.status}, true));
          return r.json();
        })
        .then(function () {
          var accounts = Array.from(
            document.querySelectorAll(".side-accounts li[data-account]:not(.disabled)"));
          schedule();
          follow(accounts);
        })
        .catch(function (err) {
          line.textContent = err.message;
          line.dataset.state = "error";
          done();
        });
    });
  }
  schedule();
})();

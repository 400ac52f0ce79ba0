// The console's one script, served from /console/static/app.js under the
// pages' CSP (script-src 'self'). Everything works without it; it only
// adds keys to the ticket queue: j and k move to the next and previous
// ticket (focusing its subject link), Enter opens it (the link's own
// behaviour). Keys typed in a form field are left alone.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(
    document.querySelectorAll("#queue tbody tr")
  );
  if (!rows.length) {
    return;
  }
  var at = -1;
  function move(to) {
    if (at >= 0) {
      rows[at].classList.remove("current");
    }
    at = Math.max(0, Math.min(rows.length - 1, to));
    var row = rows[at];
    row.classList.add("current");
    var link = row.querySelector("a[href]");
    if (link) {
      link.focus();
    }
    row.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) {
      return;
    }
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName))) {
      return;
    }
    if (e.key === "j") {
      move(at + 1);
      e.preventDefault();
    } else if (e.key === "k") {
      move(at < 0 ? 0 : at - 1);
      e.preventDefault();
    }
  });
})();

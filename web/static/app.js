// The console's one script, served from /console/static/app.js under the
// pages' CSP (script-src 'self'). Everything works without it. It adds
// keys to the ticket queue: j and k move to the next and previous ticket
// (focusing its subject link), Enter opens it (the link's own behaviour);
// keys typed in a form field are left alone. On the ticket page it keeps
// the SLA countdowns and the timer current. In a client picker
// (web/src/picker.rs) typing in the search input fetches the matching
// clients' options and puts them in the picker's select.
// A page may name this file more than once (a picker and the queue): it
// runs once.
if (!window.nestogyConsole) {
window.nestogyConsole = true;
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

// ---- ticket page: SLA countdowns and the running timer ----
// The page says, by the server's clock at load, how long until (or since)
// each SLA deadline (<time class="countdown" datetime=...>) and how long the
// user's timer has run (<time class="elapsed" datetime=...>). Here the words
// follow the browser's clock: countdowns every 30 s (a deadline that passes
// turns its state word to "Breached"), the timer every second. duration()
// says a length as web/src/fmt.rs's duration does.
(function () {
  "use strict";
  var countdowns = Array.prototype.slice.call(
    document.querySelectorAll("time.countdown[datetime]")
  );
  var timers = Array.prototype.slice.call(
    document.querySelectorAll("time.elapsed[datetime]")
  );
  if (!countdowns.length && !timers.length) {
    return;
  }
  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }
  function duration(minutes) {
    var m = Math.max(0, minutes);
    if (m < 60) {
      return m + " min";
    }
    if (m < 2880) {
      return Math.floor(m / 60) + " h " + pad(m % 60) + " min";
    }
    return Math.floor(m / 1440) + " d " + pad(Math.floor((m % 1440) / 60)) + " h";
  }
  function refreshCountdowns() {
    var now = Date.now();
    countdowns.forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) {
        return;
      }
      var secs = Math.floor((due - now) / 1000);
      if (secs > 0) {
        el.textContent = "due in " + duration(Math.ceil(secs / 60));
        return;
      }
      el.textContent = "overdue by " + duration(Math.max(1, Math.floor(-secs / 60)));
      var clock = el.closest(".clock");
      var word = clock && clock.querySelector("[data-sla-word]");
      if (word && word.textContent !== "Breached") {
        word.textContent = "Breached";
        word.className = "sla bad";
      }
    });
  }
  function refreshTimers() {
    var now = Date.now();
    timers.forEach(function (el) {
      var since = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(since)) {
        el.textContent = duration(Math.floor((now - since) / 60000));
      }
    });
  }
  if (countdowns.length) {
    refreshCountdowns();
    window.setInterval(refreshCountdowns, 30000);
  }
  if (timers.length) {
    refreshTimers();
    window.setInterval(refreshTimers, 1000);
  }
})();
(function () {
  "use strict";
  var inputs = document.querySelectorAll("input[data-client-select]");
  Array.prototype.forEach.call(inputs, function (input) {
    var select = document.getElementById(input.getAttribute("data-client-select"));
    if (!select || !window.fetch) {
      return;
    }
    var timer = null;
    var asked = 0;
    function fill(html) {
      var keep = select.value;
      var tmp = document.createElement("select");
      tmp.innerHTML = html;
      // The empty choice and the chosen client stay.
      Array.prototype.slice.call(select.options).forEach(function (o) {
        if (o.value !== "" && o.value !== keep) {
          select.removeChild(o);
        }
      });
      Array.prototype.slice.call(tmp.options).forEach(function (o) {
        if (o.value !== keep) {
          select.appendChild(o);
        }
      });
    }
    function ask() {
      var n = ++asked;
      var q = input.value.trim();
      fetch("/console/clients/options?q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: { Accept: "text/html" }
      }).then(function (r) {
        if (!r.ok || r.redirected) {
          return null;
        }
        return r.text();
      }).then(function (html) {
        if (html !== null && n === asked) {
          fill(html);
        }
      }).catch(function () {});
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 250);
    });
    // Without the script, Enter in any field of the form presses its first
    // button, the picker's "Find". With it, Enter in the search asks at
    // once and Enter elsewhere presses the form's own (last) button.
    var form = input.form;
    if (!form || !form.requestSubmit) {
      return;
    }
    form.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.key !== "Enter" || !t || t.tagName !== "INPUT" || e.isComposing) {
        return;
      }
      e.preventDefault();
      if (t === input) {
        clearTimeout(timer);
        ask();
        return;
      }
      var buttons = form.querySelectorAll("button[type=submit]:not([formmethod])");
      if (buttons.length) {
        form.requestSubmit(buttons[buttons.length - 1]);
      }
    });
  });
})();
}

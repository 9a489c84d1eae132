// Refreshes the page content in place every data-refresh seconds while the tab is visible,
// keeping the scroll position and whatever the user is typing. Without JavaScript the
// dashboard still works; it just does not refresh itself.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main) return;
  var every = parseInt(main.getAttribute("data-refresh"), 10);
  if (!(every > 0)) return;
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT");
  }
  function tick() {
    if (document.hidden || busy()) return;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var stamp = doc.getElementById("updated");
        if (fresh && !busy()) {
          main.innerHTML = fresh.innerHTML;
          var old = document.getElementById("updated");
          if (old && stamp) old.textContent = stamp.textContent;
        }
      })
      .catch(function () { /* keep the last view; try again next time */ });
  }
  setInterval(tick, every * 1000);
})();

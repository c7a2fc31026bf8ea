/* Rounds: say so when an htmx request fails, and let the learner try again.
 *
 * On weak Wi-Fi a request can fail (no connection), hang (cut off after htmx's timeout, set in
 * base.html) or meet a server error. htmx then leaves the page as it was and says nothing, so a
 * learner would tap "Choose" and see nothing happen. This puts a message above the form's
 * button, announced (role="alert") and focused, and removes it when the form is sent again.
 * Trying again is always safe: each form carries the attempt's step token, so the server never
 * records an answer twice, and shows it if the first try did arrive.
 *
 * Error pages (an expired form, a page that is gone) need no message: the server tells htmx to
 * reload the page instead (HX-Refresh; quiz/web/htmx.py). Without JavaScript none of this runs:
 * forms post normally and the browser shows its own error.
 */
(function () {
  "use strict";

  var MESSAGES = {
    network: "Rounds could not be reached, so this may not have been saved. " +
      "Check your connection and try again: nothing is ever recorded twice.",
    server: "Something went wrong on our side, so this may not have been saved. " +
      "Try again in a moment: nothing is ever recorded twice."
  };

  function formOf(event) {
    var elt = event.detail && event.detail.elt;
    return elt && elt.closest ? elt.closest("form") : null;
  }

  function clear(event) {
    var form = formOf(event);
    var note = form && form.querySelector(".request-error");
    if (note) note.remove();
  }

  function show(kind) {
    return function (event) {
      var form = formOf(event);
      if (!form) return;
      clear(event);
      var note = document.createElement("p");
      note.className = "request-error";
      note.setAttribute("role", "alert");
      note.tabIndex = -1;
      note.textContent = MESSAGES[kind];
      var button = form.querySelector("button");
      if (button) button.parentNode.insertBefore(note, button);
      else form.appendChild(note);
      note.focus();
    };
  }

  document.addEventListener("htmx:beforeRequest", clear);
  document.addEventListener("htmx:sendError", show("network"));
  document.addEventListener("htmx:timeout", show("network"));
  document.addEventListener("htmx:responseError", show("server"));
})();

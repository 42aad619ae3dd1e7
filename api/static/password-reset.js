// The password-reset page: read the token from the link's fragment, post it with the new password.
// The fragment never leaves the browser on its own, so the token stays out of request lines,
// logs and Referer headers; it is dropped from the address bar (and history) at once.
"use strict";

(function () {
  // Relative to the page (/api/v1/password-reset), so a path prefix in front of the app still works.
  const CONFIRM_URL = "auth/password-reset/confirm";
  const ASK_URL = "auth/password-reset";
  const sections = ["choose", "done", "ask", "asked"];

  function $(id) { return document.getElementById(id); }

  function show(name, message) {
    for (const section of sections) { $(section).hidden = section !== name; }
    say(message);
  }

  function say(message) {
    const box = $("message");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    let problem = null;
    if (!response.ok) {
      try { problem = await response.json(); } catch (error) { problem = null; }
    }
    return { status: response.status, problem: problem || {} };
  }

  function problemText(answer) {
    if (answer.status === 429) { return "Too many attempts. Wait a few minutes, then try again."; }
    const errors = answer.problem.errors || {};
    const listed = [].concat(errors.new_password || [], errors.email || []);
    if (listed.length) { return listed.join(" "); }
    return answer.problem.detail || "Something went wrong. Try again in a moment.";
  }

  function busy(form, on) {
    form.querySelector("button[type=submit]").disabled = on;
  }

  let token = "";

  // Take the token from the fragment, and drop it from the address bar and history at once.
  function takeToken() {
    const found = window.location.hash.slice(1);
    if (!found) { return false; }
    token = found;
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    $("choose-form").reset();
    show("choose");
    return true;
  }

  $("show-password").addEventListener("change", function (event) {
    const type = event.target.checked ? "text" : "password";
    $("new-password").type = type;
    $("repeat-password").type = type;
  });

  $("choose-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    const password = $("new-password").value;
    if (password !== $("repeat-password").value) {
      say("The two passwords differ. Type the same password twice.");
      return;
    }
    busy(this, true);
    try {
      const answer = await post(CONFIRM_URL, { token: token, new_password: password });
      if (answer.status === 204) {
        token = "";
        show("done");
      } else if (answer.status === 422 && (answer.problem.errors || {}).token) {
        token = "";
        show("ask", "This link has expired or was already used. Ask for a new one below.");
      } else {
        say(problemText(answer));
      }
    } catch (error) {
      say("Could not reach Waypoint. Check your connection and try again.");
    } finally {
      busy(this, false);
    }
  });

  $("ask-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    busy(this, true);
    try {
      const answer = await post(ASK_URL, { email: $("email").value.trim() });
      if (answer.status === 202) {
        show("asked");
      } else {
        say(problemText(answer));
      }
    } catch (error) {
      say("Could not reach Waypoint. Check your connection and try again.");
    } finally {
      busy(this, false);
    }
  });

  // A link opened in a tab that already shows this page changes only the fragment: no new load.
  window.addEventListener("hashchange", takeToken);
  if (!takeToken()) {
    show("ask", "This link is incomplete. Open it from the e-mail again, or ask for a new one below.");
  }
})();

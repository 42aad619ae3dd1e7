"use strict";
(function () {
  const W = window.Waypoint;
  const params = new URLSearchParams(location.search);
  if (params.get("reason") === "idle") W.status("You were signed out after 15 minutes without activity.");

  function destination(role) {
    const next = params.get("next");
    // Only a path on this site: never an open redirect.
    if (next && next.startsWith("/") && !next.startsWith("//")) return next;
    return role === "patient" ? "/summary" : "/caseload";
  }

  document.getElementById("signin-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    const error = document.getElementById("signin-error");
    error.textContent = "";
    const response = await fetch("/web/session", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({email: document.getElementById("email").value,
                            password: document.getElementById("password").value})});
    if (!response.ok) { error.textContent = (await W.problem(response)).message; return; }
    const body = await response.json();
    location.assign(destination(body.role));
  });
})();

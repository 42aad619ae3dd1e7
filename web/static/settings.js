"use strict";
(function () {
  const W = window.Waypoint;
  const form = document.getElementById("settings-form");
  const field = function (id) { return document.getElementById(id); };

  function show(p) {
    form.querySelector("input[name=weekly_summary][value=" + p.weekly_summary + "]").checked = true;
    field("reminders_enabled").checked = p.reminders_enabled;
    field("reminder_time").value = p.reminder_time;
    field("reminders_paused_until").value = p.reminders_paused_until || "";
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    field("settings-error").textContent = "";
    try {
      show(await W.json("/me/preferences", {method: "PUT", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({
          weekly_summary: form.querySelector("input[name=weekly_summary]:checked").value,
          reminders_enabled: field("reminders_enabled").checked,
          reminder_time: field("reminder_time").value,
          reminders_paused_until: field("reminders_paused_until").value || null})}));
      W.status("Settings saved.");
    } catch (error) { field("settings-error").textContent = error.message; }
  });
  W.json("/me/preferences").then(show).catch(W.fail);
})();

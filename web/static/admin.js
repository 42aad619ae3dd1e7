"use strict";
(function () {
  const W = window.Waypoint, el = W.el;
  const field = function (id) { return document.getElementById(id); };

  function problemText(error) {
    const errors = (error.body && error.body.errors) || {};
    return [error.message].concat(Object.entries(errors).map(function ([name, messages]) {
      return name.replace(/_/g, " ") + ": " + [].concat(messages).join(" ");
    })).join(" · ");
  }

  field("enrol-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    field("enrol-error").textContent = "";
    const body = {display_name: field("display_name").value, email: field("enrol-email").value,
      timezone: field("timezone").value, level_of_care: field("enrol-level").value,
      program_id: field("enrol-program").value ? Number(field("enrol-program").value) : null,
      recovery_start_date: field("recovery_start_date").value || null};
    try {
      const result = await W.json("/patients", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body)});
      field("invite-name").textContent = result.patient.display_name;
      field("invite-code").textContent = result.invite.code;
      field("invite-expires").textContent = new Date(result.invite.expires_at).toLocaleString();
      field("invite").hidden = false;
      field("enrol-form").reset();
      W.status("Enrolled " + result.patient.display_name + ".");
    } catch (error) { field("enrol-error").textContent = problemText(error); }
  });

  function fact(name, value) { field("report").append(el("dt", name), el("dd", value)); }
  function held(value, suffix) { return value === null || value === undefined ? "held back (too few patients)" : value + (suffix || ""); }

  async function showReport() {
    const id = field("report-program").value;
    field("report").replaceChildren(); field("suppressed").replaceChildren();
    if (!id) return;
    try {
      const r = await W.json("/programs/" + id + "/report");
      fact("Patients enrolled", String(r.patients_enrolled));
      fact("Active (checked in within 14 days)", held(r.active_patients));
      fact("Attendance, last 30 days", held(r.attendance_30.rate, " %"));
      if (r.pda) fact("Mean PDA, first vs latest 30 days", held(r.pda.first_30_days, " %") + " → " + held(r.pda.latest_30_days, " %"));
      Object.entries(r.retention || {}).forEach(function ([window, value]) {
        fact("Retention, " + window.replace(/_/g, " "), held(value.percent, " %"));
      });
      Object.entries(r.score_change || {}).forEach(function ([instrument, change]) {
        fact("Mean change, " + instrument.toUpperCase(), change && change.mean_from_first !== null
          ? change.mean_from_first + " points (" + change.patients + " patients)" : "held back (too few patients)");
      });
      Object.entries(r.suppressed || {}).forEach(function ([path, why]) { field("suppressed").append(el("li", path + ": " + why)); });
    } catch (error) { W.fail(error); }
  }

  async function showAudit() {
    const query = new URLSearchParams({page_size: "50"});
    if (field("audit-action").value) query.set("action", field("audit-action").value);
    if (field("audit-outcome").value) query.set("outcome", field("audit-outcome").value);
    try {
      const page = await W.json("/audit-log?" + query);
      const body = document.querySelector("#audit tbody");
      body.replaceChildren();
      page.items.forEach(function (e) {
        const tr = el("tr");
        [new Date(e.occurred_at).toLocaleString(), e.actor_id === null ? "anonymous" : "#" + e.actor_id + " " + (e.actor_role || ""),
         e.action, e.resource, e.outcome + " (" + e.status_code + ")", e.patient_id === null ? "–" : "#" + e.patient_id]
          .forEach(function (text) { tr.append(el("td", text)); });
        body.append(tr);
      });
      field("audit-total").textContent = page.items.length + " of " + page.total + " events shown.";
    } catch (error) { W.fail(error); }
  }

  // Every active clinician of the organization, a new one with no patient yet included.
  let patients = [], clinicians = [];

  function showTeam() {
    const patient = patients.find(function (p) { return String(p.id) === field("team-patient").value; });
    const box = field("team-clinicians");
    box.replaceChildren();
    if (!patient) return;
    const onTeam = new Set(patient.care_team.map(function (c) { return c.id; }));
    clinicians.forEach(function (c) {
      const id = "team-clinician-" + c.id;
      const input = el("input", null, {id: id, type: "checkbox", value: c.id});
      input.checked = onTeam.has(c.id);
      const line = el("p");
      line.append(input, " ", el("label", c.name, {"for": id}));
      box.append(line);
    });
  }

  async function loadPatients() {
    clinicians = (await W.json("/clinicians")).map(function (c) { return {id: c.id, name: c.display_name}; });
    patients = (await W.json("/patients?page_size=200")).items;
    const select = field("team-patient"), chosen = select.value;
    select.replaceChildren();
    patients.forEach(function (p) { select.append(el("option", p.display_name, {value: p.id})); });
    if (chosen) select.value = chosen;
    showTeam();
  }

  field("team-patient").addEventListener("change", showTeam);
  field("team-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    field("team-error").textContent = "";
    const ids = Array.from(field("team-clinicians").querySelectorAll("input:checked"), function (i) { return Number(i.value); });
    try {
      const saved = await W.json("/patients/" + field("team-patient").value + "/care-team", {method: "PUT",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({clinician_ids: ids})});
      W.status("Care team of " + saved.display_name + " saved.");
      await loadPatients();
    } catch (error) { field("team-error").textContent = problemText(error); }
  });
  field("report-form").addEventListener("submit", function (event) { event.preventDefault(); showReport(); });
  field("audit-form").addEventListener("submit", function (event) { event.preventDefault(); showAudit(); });
  W.json("/programs").then(function (programs) {
    const items = Array.isArray(programs) ? programs : programs.items;
    items.forEach(function (p) {
      field("enrol-program").append(el("option", p.name, {value: p.id}));
      field("report-program").append(el("option", p.name, {value: p.id}));
    });
    return showReport();
  }).then(loadPatients).then(showAudit).catch(W.fail);
})();

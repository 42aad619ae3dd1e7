"use strict";
(function () {
  const W = window.Waypoint, el = W.el;
  const form = document.getElementById("checkin-form");
  const field = function (id) { return document.getElementById(id); };
  let etag = null;  // the loaded day's version: an edit sends it back in If-Match

  function radio(name, value) {
    const input = form.querySelector("input[name=" + name + "][value=" + String(!!value) + "]");
    input.checked = true;
  }

  const GROUPS = ["substances", "triggers", "coping_skills"];

  // The choices are the organization's vocabularies (/catalogue), shown with their own labels.
  function choices(group, options) {
    const box = field(group);
    options.forEach(function (option) {
      const code = typeof option === "string" ? option : option.code;
      const label = typeof option === "string" ? code.replace(/_/g, " ") : option.label;
      const id = group + "-" + code;
      const choice = el("span");
      choice.append(el("input", null, {id: id, type: "checkbox", name: group, value: code}), " ",
                    el("label", label, {"for": id}));
      box.append(choice);
    });
  }

  function chosen(group) {
    return Array.from(form.querySelectorAll("input[name=" + group + "]:checked"), function (i) { return i.value; });
  }

  function usedChanged() {
    const used = form.querySelector("input[name=used_substance]:checked").value === "true";
    field("substances-set").disabled = !used;
    if (!used) form.querySelectorAll("input[name=substances]").forEach(function (i) { i.checked = false; });
  }

  async function loadDay() {
    etag = null;
    const day = field("day").value;
    // Ask the range first: a missing day is an empty page, not a 404 in the console.
    const found = await W.json("/me/checkins?" + new URLSearchParams({from: day, to: day}));
    if (!found.items.length) { W.status("No check-in yet for this day."); return; }
    const response = await W.api("/me/checkins/" + day);
    if (!response.ok) throw await W.problem(response);
    etag = response.headers.get("ETag");
    const c = await response.json();
    field("craving").value = c.craving; field("mood").value = c.mood; field("sleep_hours").value = c.sleep_hours;
    radio("used_substance", c.used_substance); radio("self_harm_thoughts", c.self_harm_thoughts);
    field("note").value = c.note || "";
    GROUPS.forEach(function (group) {
      form.querySelectorAll("input[name=" + group + "]").forEach(function (i) { i.checked = (c[group] || []).includes(i.value); });
    });
    form.querySelector("input[name=medication_taken][value='" + (c.medication_taken === null ? "" : c.medication_taken) + "']").checked = true;
    usedChanged();
    W.status("You already checked in for this day; saving changes it.");
  }

  function showCrisis(resources) {
    const section = field("crisis");
    field("crisis-message").textContent = resources.message;
    const contacts = field("crisis-contacts");
    contacts.replaceChildren(
      el("li", resources.lifeline.name + ": call " + resources.lifeline.call + ", text " + resources.lifeline.text),
      el("li", "Emergency: " + resources.emergency_number));
    if (resources.program && resources.program.phone) {
      contacts.append(el("li", resources.program.name + ": " + resources.program.phone));
    }
    section.hidden = false;
    section.setAttribute("tabindex", "-1");
    section.focus();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    field("checkin-error").textContent = "";
    W.status("Saving…");
    const body = {
      craving: Number(field("craving").value), mood: Number(field("mood").value),
      sleep_hours: Number(field("sleep_hours").value),
      used_substance: form.querySelector("input[name=used_substance]:checked").value === "true",
      self_harm_thoughts: form.querySelector("input[name=self_harm_thoughts]:checked").value === "true",
      note: field("note").value || null,
      substances: chosen("substances"), triggers: chosen("triggers"), coping_skills: chosen("coping_skills"),
      medication_taken: {"true": true, "false": false}[form.querySelector("input[name=medication_taken]:checked").value] ?? null,
    };
    const headers = {"Content-Type": "application/json"};
    if (etag) headers["If-Match"] = etag;
    try {
      // PUT of one day is idempotent: sending it again after a lost answer changes nothing.
      const response = await W.api("/me/checkins/" + field("day").value,
        {method: "PUT", headers: headers, body: JSON.stringify(body)});
      if (!response.ok) throw await W.problem(response);
      etag = response.headers.get("ETag");
      const saved = await response.json();
      if (saved.crisis_resources) showCrisis(saved.crisis_resources);
      W.status("Check-in saved for " + saved.date + ".");
    } catch (error) {
      W.status("");
      // The API reports every problem at once, by field: show each in words.
      const errors = (error.body && error.body.errors) || {};
      const details = Object.entries(errors).map(function ([name, messages]) {
        return name.replace(/_/g, " ") + ": " + [].concat(messages).join(" ");
      });
      field("checkin-error").textContent = [error.message].concat(details).join(" · ");
    }
  });

  field("day").addEventListener("change", function () { loadDay().catch(W.fail); });
  form.querySelectorAll("input[name=used_substance]").forEach(function (i) { i.addEventListener("change", usedChanged); });
  W.json("/catalogue").then(function (catalogue) {
    choices("substances", catalogue.substances);
    choices("triggers", catalogue.triggers);
    choices("coping_skills", catalogue.coping_skills);
    return W.json("/me/summary");
  }).then(function (summary) {
    field("day").value = summary.today;
    field("day").max = summary.today;
    return loadDay();
  }).catch(W.fail);
})();

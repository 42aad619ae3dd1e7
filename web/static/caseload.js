"use strict";
(function () {
  const W = window.Waypoint, el = W.el;
  const form = document.getElementById("caseload-filters");
  const MEASURES = [["craving", "Craving"], ["mood", "Mood"], ["sleep_hours", "Sleep"]];
  const SCORES = [["phq9", "PHQ-9"], ["gad7", "GAD-7"], ["bam", "BAM"]];

  function cell(row, content) {
    const td = el("td");
    (Array.isArray(content) ? content : [content]).forEach(function (part) {
      td.append(typeof part === "string" ? document.createTextNode(part) : part);
    });
    row.append(td);
  }

  function list(items) {
    const ul = el("ul", null, {"class": "plain"});
    items.forEach(function (text) { ul.append(el("li", text)); });
    return ul;
  }

  function riskCell(risk) {
    const level = el("span", "Risk: " + risk.level, {"class": "risk risk-" + risk.level});
    return [level, list(risk.reasons.map(function (r) { return r.text; }))];
  }

  function means(means7) {
    return list(MEASURES.map(function ([key, label]) {
      const m = means7[key];
      if (!m || m.value === null) return label + ": no check-ins";
      return label + ": " + m.value + (m.direction ? " (" + m.direction + ")" : "");
    }));
  }

  function scores(latest) {
    return list(SCORES.filter(function ([key]) { return latest[key]; }).map(function ([key, label]) {
      const s = latest[key];
      return label + " " + s.total + " " + s.band.label + " (" + s.local_day + ")";
    }));
  }

  function render(rows) {
    const body = document.querySelector("#caseload-table tbody");
    body.replaceChildren();
    rows.forEach(function (item) {
      const tr = el("tr", null, {"data-patient-id": item.patient.id});
      const th = el("th", null, {scope: "row"});
      th.append(el("a", item.patient.display_name, {href: "/patients/" + item.patient.id}));
      th.append(el("div", item.level_of_care.toUpperCase() + (item.program ? " · " + item.program.name : ""), {"class": "small"}));
      tr.append(th);
      cell(tr, riskCell(item.risk));
      cell(tr, item.step_up.consider_step_up
        ? [el("strong", "Consider step-up"), list(item.step_up.reasons.map(function (r) { return r.text; }))] : "No");
      cell(tr, item.last_checkin ? item.last_checkin + " (" + item.days_since_last_checkin + " d ago)" : "Never");
      cell(tr, item.current_streak + " d");
      cell(tr, means(item.means_7));
      cell(tr, item.adherence_7.percent === null ? "–" : item.adherence_7.percent + " % ("
        + item.adherence_7.days_reported + " of " + item.adherence_7.days_in_window + " d)");
      cell(tr, scores(item.latest_scores));
      cell(tr, item.attendance_14.rate === null ? "No sessions" : item.attendance_14.rate + " % ("
        + item.attendance_14.attended + " attended, " + item.attendance_14.missed + " missed)");
      cell(tr, item.open_alerts + " open" + (item.urgent_alerts ? ", " + item.urgent_alerts + " urgent" : ""));
      body.append(tr);
    });
  }

  async function load() {
    const query = new URLSearchParams({page_size: "200"});
    ["sort", "risk", "level_of_care"].forEach(function (name) {
      const value = form.elements[name].value;
      if (value) query.set(name, value);
    });
    W.status("Loading the caseload…");
    try {
      const page = await W.json("/caseload?" + query);
      render(page.items);
      document.getElementById("caseload-total").textContent =
        page.items.length + " of " + page.total + " patients shown.";
      W.status("");
    } catch (error) { W.fail(error); }
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  load();
})();

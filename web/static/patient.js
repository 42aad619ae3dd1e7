"use strict";
(function () {
  const W = window.Waypoint, el = W.el;
  const patientId = document.getElementById("patient").dataset.patientId;
  const MEASURES = [["craving", "Craving", 10], ["mood", "Mood", 10], ["sleep_hours", "Sleep (hours)", 24]];
  const INSTRUMENTS = {phq9: "PHQ-9", gad7: "GAD-7", bam: "BAM"};

  function seconds(day) { return Date.parse(day + "T12:00:00Z") / 1000; }
  function shown(value, suffix) { return value === null || value === undefined ? "no data" : value + (suffix || ""); }

  function row(table, cells) {
    const tr = el("tr");
    cells.forEach(function (text, i) { tr.append(el(i ? "td" : "th", text, i ? {} : {scope: "row"})); });
    document.querySelector("#" + table + " tbody").append(tr);
  }

  function fact(name, value) {
    const list = document.getElementById("overview");
    list.append(el("dt", name), el("dd", value));
  }

  // Days without a check-in stay null, so the line breaks there instead of joining its neighbours.
  function dailyChart(series, key, label, top) {
    const target = document.getElementById("chart-" + key.split("_")[0]);
    const x = series.map(function (d) { return seconds(d.date); });
    const values = series.map(function (d) { return d.checked_in ? d[key] : null; });
    const use = series.map(function (d) { return d.used_substance ? top : null; });
    const options = {
      width: Math.max(320, Math.min(900, target.clientWidth || 700)), height: 200,
      scales: {y: {range: [0, top]}},
      series: [{}, {label: label, stroke: "#1f5fa8", width: 2, spanGaps: false},
               {label: "Use day", stroke: "#b00020", paths: function () { return null; },
                points: {show: true, size: 9, fill: "#b00020"}}],
      axes: [{}, {}],
    };
    new uPlot(options, [x, values, use], target);
    target.setAttribute("role", "img");
    target.setAttribute("aria-label", label + " per day; " + values.filter(function (v) { return v !== null; }).length
      + " of " + values.length + " days reported");
  }

  function scoresChart(scores) {
    const target = document.getElementById("chart-scores");
    const instruments = Object.keys(INSTRUMENTS).filter(function (k) { return scores.some(function (s) { return s.instrument === k; }); });
    if (!scores.length) { target.textContent = "No questionnaires yet."; return; }
    const days = Array.from(new Set(scores.map(function (s) { return s.local_day; }))).sort();
    const data = [days.map(seconds)].concat(instruments.map(function (k) {
      return days.map(function (day) {
        const found = scores.find(function (s) { return s.instrument === k && s.local_day === day; });
        return found ? found.total : null;
      });
    }));
    const colours = ["#1f5fa8", "#8a4b08", "#3b7a2a"];
    new uPlot({width: Math.max(320, Math.min(900, target.clientWidth || 700)), height: 200,
      series: [{}].concat(instruments.map(function (k, i) {
        return {label: INSTRUMENTS[k], stroke: colours[i], width: 2, spanGaps: true, points: {show: true}}; }))},
      data, target);
    target.setAttribute("role", "img");
    target.setAttribute("aria-label", "Questionnaire totals over time; every score is listed in the table below");
  }

  function render(d) {
    const p = d.patient;
    document.querySelector("h1").textContent = p.display_name;
    document.title = p.display_name + " - Waypoint";
    fact("Risk", d.risk.level);
    fact("Level of care", p.level_of_care.toUpperCase() + (p.program ? " · " + p.program.name : ""));
    fact("Care team", p.care_team.map(function (m) { return m.display_name; }).join(", "));
    fact("Recovery start", shown(p.recovery_start_date));
    fact("Current streak", d.trends.abstinence.current_streak + " days (longest " + d.trends.abstinence.longest_streak + ")");
    fact("Last check-in", shown(d.trends.last_checkin));
    const reasons = document.getElementById("risk-reasons");
    d.risk.reasons.forEach(function (r) { reasons.append(el("li", r.level + ": " + r.text)); });

    MEASURES.forEach(function ([key, label, top]) {
      dailyChart(d.series, key, label, top);
      const m = d.trends.metrics[key];
      row("means", [label, shown(m.mean_7.value) + " (n " + m.mean_7.n + ")", shown(m.mean_28.value) + " (n " + m.mean_28.n + ")"
        + (m.slope_14.direction ? ", 14-day trend " + m.slope_14.direction : "")]);
    });
    const useDays = d.series.filter(function (s) { return s.used_substance; }).map(function (s) { return s.date; });
    document.getElementById("use-days").textContent = useDays.length
      ? "Use reported on: " + useDays.join(", ") : "No use reported in these " + d.days + " days.";
    Object.entries(d.trends.abstinence.pda).forEach(function ([days, pda]) {
      row("pda", [days + " days", shown(pda.missing_excluded, " %"), shown(pda.missing_as_use, " %")]);
    });

    scoresChart(d.scores);
    d.scores.slice().reverse().forEach(function (s) {
      row("scores", [s.local_day, INSTRUMENTS[s.instrument] || s.instrument, String(s.total), s.band ? s.band.label : "–"]);
    });
    d.attendance.forEach(function (w) {
      row("attendance", [w.week_start, String(w.attended), String(w.missed), String(w.hours_attended),
        w.planned_hours ? w.planned_hours.join("–") : "–", w.plan_status || "–"]);
    });
    d.goals.forEach(function (g) {
      row("goals", [g.week_start, String(g.done), String(g.total), shown(g.rate, " %")]);
    });
    const alerts = document.getElementById("patient-alerts");
    if (!d.alerts.length) alerts.append(el("li", "No open alerts."));
    d.alerts.forEach(function (a) { alerts.append(el("li", a.severity.toUpperCase() + " · " + a.status + " · " + a.summary)); });
    const history = document.getElementById("loc-history");
    p.level_of_care_history.forEach(function (h) {
      history.append(el("li", h.effective_date + ": " + h.level_of_care.toUpperCase() + (h.note ? " – " + h.note : "")
        + (h.changed_by ? " (" + h.changed_by.display_name + ")" : "")));
    });
  }

  W.json("/patients/" + patientId + "/dashboard").then(render).catch(W.fail);
})();

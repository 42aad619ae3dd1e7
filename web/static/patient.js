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

  // One chart per questionnaire, its scores against the instrument's own band cut-offs (from /instruments).
  function scoreCharts(scores, instruments) {
    const target = document.getElementById("score-charts");
    if (!scores.length) { target.append(el("p", "No questionnaires yet.")); return; }
    instruments.filter(function (i) { return scores.some(function (s) { return s.instrument === i.code; }); })
      .forEach(function (instrument) {
        const own = scores.filter(function (s) { return s.instrument === instrument.code; });
        const figure = el("figure", null, {"class": "chart"});
        figure.append(el("figcaption", instrument.name + " totals; dashed lines mark where each band begins"));
        const box = el("div", null, {id: "chart-" + instrument.code});
        figure.append(box);
        target.append(figure);
        const x = own.map(function (s) { return seconds(s.local_day); });
        const bands = instrument.bands.filter(function (b) { return b.low > 0; });
        const top = instrument.total_range ? instrument.total_range[1] : null;
        new uPlot({width: Math.max(320, Math.min(900, target.clientWidth || 700)), height: 200,
          scales: top === null ? {} : {y: {range: [0, top]}},
          series: [{}, {label: instrument.name, stroke: "#1f5fa8", width: 2, points: {show: true, size: 7}}]
            .concat(bands.map(function (b) {
              return {label: b.label + " from " + b.low, stroke: "#8a8a8a", width: 1, dash: [4, 4], points: {show: false}};
            }))},
          [x, own.map(function (s) { return s.total; })].concat(bands.map(function (b) {
            return x.map(function () { return b.low; });
          })), box);
        box.setAttribute("role", "img");
        box.setAttribute("aria-label", instrument.name + " totals over time; every score and its band is in the table below");
      });
  }

  function render([d, instruments]) {
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

    scoreCharts(d.scores, instruments);
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

  Promise.all([W.json("/patients/" + patientId + "/dashboard"), W.json("/instruments")]).then(render).catch(W.fail);
})();

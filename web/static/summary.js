"use strict";
(function () {
  const W = window.Waypoint, el = W.el;
  const DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  const WORDS = {better: "better than last week", worse: "harder than last week", same: "about the same as last week"};

  function facts() {
    const list = el("dl", null, {"class": "facts"});
    return {list: list, add: function (name, value) { list.append(el("dt", name), el("dd", value)); }};
  }
  function shown(value) { return value === null || value === undefined ? "–" : String(value); }

  W.json("/me/summary").then(function (s) {
    const today = facts();
    today.add("Checked in today", s.checked_in_today ? "Yes" : "Not yet");
    today.add("Days in a row", s.current_streak + " (longest " + s.longest_streak + ")");
    today.add("Days since recovery start", shown(s.days_since_recovery_start));
    const pda = s.percent_days_abstinent_30;
    today.add("Days without use, last 30", pda.missing_excluded === null ? "No check-ins yet"
      : pda.days_abstinent + " of " + pda.days_reported + " days you checked in (" + pda.missing_excluded + " %)");
    today.add("Goals this week", s.goals_this_week.done + " of " + s.goals_this_week.total + " done");
    today.add("Questionnaires due", s.assessments_due.length ? String(s.assessments_due.length) : "None");
    const target = document.getElementById("summary");
    target.append(today.list);
    if (!s.checked_in_today) target.append(el("a", "Check in for today", {href: "/checkin", "class": "button"}));
  }).catch(W.fail);

  // The week the e-mail's link names (?week=2026-W47), or last week: the e-mail's own figures.
  const asked = new URLSearchParams(location.search).get("week");
  W.json("/me/weekly-summary" + (asked ? "?week=" + encodeURIComponent(asked) : "")).then(function (w) {
    const target = document.getElementById("week");
    document.getElementById("week-h").textContent = "Your week, " + w.week_start + " to " + w.week_end;
    target.append(el("p", w.encouragement));
    const table = el("table");
    table.append(el("caption", "Each day of the week"));
    const head = el("tr");
    ["Day", "Checked in", "Craving (0–10)", "Mood (0–10)", "Sleep (hours)", "Used"].forEach(function (name) {
      head.append(el("th", name, {scope: "col"}));
    });
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    w.days.forEach(function (day, index) {
      const row = el("tr");
      row.append(el("th", DAY_NAMES[index] + " " + day.day, {scope: "row"}));
      row.append(el("td", day.checked_in ? "Yes" : "No"), el("td", shown(day.craving)), el("td", shown(day.mood)),
        el("td", shown(day.sleep_hours)),
        el("td", day.used_substance === null ? "–" : (day.used_substance ? "Yes" : "No")));
      body.append(row);
    });
    table.append(body);
    target.append(table);

    const week = facts();
    week.add("Days checked in", w.checkins + " of 7");
    week.add("Days without use", w.days_abstinent + (w.days_used ? " (used on " + w.days_used + ")" : ""));
    week.add("Days in a row at the week's end", w.current_streak + " (longest " + w.longest_streak + ")");
    week.add("Days without use, 30 days to the week's end", w.pda_30 === null ? "No check-ins"
      : w.pda_30 + " % of " + w.pda_30_days_reported + " days you checked in");
    w.metrics.forEach(function (m) {
      week.add(m.label, m.this_week === null ? "No check-ins this week"
        : "average " + m.this_week + (m.direction ? ", " + WORDS[m.direction] : ""));
    });
    week.add("Coping skills practised", w.skills_practised.length
      ? w.skills_practised.map(function (s) { return s.label + " (" + s.days + (s.days === 1 ? " day)" : " days)"); }).join(", ") : "None");
    if (w.skills_that_helped.length) {
      week.add("What seemed to help", w.skills_that_helped.map(function (s) {
        return s.label + ": " + s.craving_lower_by + " points less craving the next day";
      }).join("; "));
    }
    week.add("Goals", w.goals_done + " of " + w.goals_total + " done");
    week.add("Questionnaires due", w.questionnaires_due.length ? w.questionnaires_due.join(", ") : "None");
    target.append(week.list);
  }).catch(W.fail);
})();

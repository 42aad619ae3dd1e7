"use strict";
(function () {
  const W = window.Waypoint, el = W.el;
  W.json("/me/summary").then(function (s) {
    const list = el("dl", null, {"class": "facts"});
    function fact(name, value) { list.append(el("dt", name), el("dd", value)); }
    fact("Checked in today", s.checked_in_today ? "Yes" : "Not yet");
    fact("Days in a row", s.current_streak + " (longest " + s.longest_streak + ")");
    fact("Days since recovery start", s.days_since_recovery_start === null ? "–" : String(s.days_since_recovery_start));
    const pda = s.percent_days_abstinent_30;
    fact("Days without use, last 30", pda.missing_excluded === null ? "No check-ins yet"
      : pda.days_abstinent + " of " + pda.days_reported + " days you checked in (" + pda.missing_excluded + " %)");
    fact("Goals this week", s.goals_this_week.done + " of " + s.goals_this_week.total + " done");
    fact("Questionnaires due", s.assessments_due.length ? String(s.assessments_due.length) : "None");
    const target = document.getElementById("summary");
    const asked = new URLSearchParams(location.search).get("week");
    // The weekly e-mail names the week it summed up; this page shows the figures as of today.
    if (asked) target.append(el("p", "Your weekly e-mail was about week " + asked + "; these figures are as of today, "
      + s.today + ".", {"class": "hint"}));
    target.append(list);
    if (!s.checked_in_today) target.append(el("a", "Check in for today", {href: "/checkin", "class": "button"}));
  }).catch(W.fail);
})();

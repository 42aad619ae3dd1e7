"use strict";
(function () {
  const W = window.Waypoint, el = W.el;
  const form = document.getElementById("alert-filters");

  function action(alert, verb, label) {
    const wrap = el("form", null, {"class": "alert-action"});
    const id = "note-" + verb + "-" + alert.id;
    wrap.append(el("label", label + " note" + (verb === "resolve" ? "" : " (optional)"), {"for": id}));
    const note = el("input", null, {id: id, type: "text", maxlength: "1000"});
    if (verb === "resolve") note.required = true;
    wrap.append(note, el("button", label, {type: "submit"}));
    wrap.addEventListener("submit", async function (event) {
      event.preventDefault();
      try {
        await W.json("/alerts/" + alert.id + "/" + verb, {method: "POST",
          headers: {"Content-Type": "application/json"},
          body: JSON.stringify(note.value ? {note: note.value} : {})});
        W.status("Alert about " + alert.patient.display_name + " " + (verb === "resolve" ? "resolved" : "acknowledged") + ".");
        load(false);
      } catch (error) { W.fail(error); }
    });
    return wrap;
  }

  function render(items) {
    const list = document.getElementById("alert-list");
    list.replaceChildren();
    items.forEach(function (alert) {
      const li = el("li", null, {"class": "card alert severity-" + alert.severity, "data-alert-id": alert.id});
      const head = el("h2");
      head.append(el("span", alert.severity.toUpperCase(), {"class": "badge badge-" + alert.severity}), " ",
        el("a", alert.patient.display_name, {href: "/patients/" + alert.patient.id}));
      li.append(head, el("p", alert.summary));
      li.append(el("p", "Status: " + alert.status + " · day " + alert.local_day +
        (alert.trigger_count > 1 ? " · triggered " + alert.trigger_count + " times" : ""), {"class": "small"}));
      if (alert.acknowledge_note) li.append(el("p", "Acknowledged: " + alert.acknowledge_note, {"class": "small"}));
      if (alert.resolve_note) li.append(el("p", "Resolved: " + alert.resolve_note, {"class": "small"}));
      if (alert.status === "open") li.append(action(alert, "acknowledge", "Acknowledge"));
      if (alert.status !== "resolved") li.append(action(alert, "resolve", "Resolve"));
      list.append(li);
    });
  }

  // Urgent first: one API call per severity, most urgent first, each in the API's own order
  // (most recently triggered first).
  async function load(announce) {
    const status = form.elements.status.value, chosen = form.elements.severity.value;
    if (announce !== false) W.status("Loading alerts…");
    try {
      let items = [], total = 0;
      for (const severity of chosen ? [chosen] : ["urgent", "high", "medium"]) {
        const query = new URLSearchParams({page_size: "100", severity: severity});
        if (status) query.set("status", status);
        const page = await W.json("/alerts?" + query);
        items = items.concat(page.items); total += page.total;
      }
      render(items);
      document.getElementById("alert-total").textContent = items.length + " of " + total + " alerts shown.";
      if (announce !== false) W.status("");
    } catch (error) { W.fail(error); }
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  load();
})();

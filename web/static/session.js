// The page's session: the access token lives in this script's memory only;
// the refresh token is an HttpOnly cookie that only /web/session sees.
"use strict";
(function () {
  const IDLE_MS = 15 * 60 * 1000;
  const REFRESH_AFTER_MS = 5 * 60 * 1000;
  let access = null, role = null, refreshedAt = 0, lastActivity = Date.now();

  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrf_refresh_token=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function toSignIn(reason) {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign("/signin?next=" + next + (reason ? "&reason=" + reason : ""));
  }

  // One refresh at a time, across every tab of the origin: each one rotates the refresh
  // token (a cookie the tabs share), and presenting a rotated-away token (two calls
  // racing, e.g. two patients opened in new tabs at once) makes the server end the
  // whole session. The Web Locks API queues the tabs; the next one then presents the
  // token the previous one was given.
  let refreshing = null;
  function refresh() {
    if (!refreshing) refreshing = oneAtATime(rotate).finally(function () { refreshing = null; });
    return refreshing;
  }

  function oneAtATime(task) {
    return navigator.locks ? navigator.locks.request("waypoint-session-refresh", task) : task();
  }

  async function rotate() {
    if (!csrf()) { access = null; return false; }  // no session cookie: nothing to ask for
    const response = await fetch("/web/session/refresh", {
      method: "POST", credentials: "same-origin", headers: {"X-CSRF-TOKEN": csrf()}});
    if (!response.ok) { access = null; return false; }
    const body = await response.json();
    access = body.access_token; role = body.role; refreshedAt = Date.now();
    showWho(body);
    return true;
  }

  function showWho(body) {
    const nav = document.getElementById("nav"), out = document.getElementById("sign-out");
    nav.hidden = false; out.hidden = false;
    const staff = body.role !== "patient";
    nav.querySelector(".staff-nav").hidden = !staff;
    nav.querySelector(".patient-nav").hidden = staff;
    nav.querySelector(".admin-only").hidden = body.role !== "admin";
    document.getElementById("who").textContent = "Signed in as " + body.display_name;
  }

  // Every API call: the in-memory token, one refresh on a 401, then the sign-in page.
  async function api(path, options) {
    options = Object.assign({headers: {}}, options || {});
    if (!access && !(await refresh())) { toSignIn(); throw new Error("signed out"); }
    const call = () => fetch("/api/v1" + path, Object.assign({}, options, {
      credentials: "omit", headers: Object.assign({"Authorization": "Bearer " + access}, options.headers)}));
    let response = await call();
    if (response.status === 401) {
      if (!(await refresh())) { toSignIn(); throw new Error("signed out"); }
      response = await call();
    }
    return response;
  }

  async function json(path, options) {
    const response = await api(path, options);
    if (!response.ok) throw await problem(response);
    return response.json();
  }

  async function problem(response) {
    let body = {};
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    const error = new Error(body.detail || body.title || ("The server answered " + response.status));
    error.status = response.status; error.body = body;
    return error;
  }

  // Once: the idle timer keeps ticking while the sign-out request is out, and a second
  // navigation would abort the first.
  let signingOut = false;
  async function signOut(reason) {
    if (signingOut) return;
    signingOut = true;
    access = null;
    try {
      await fetch("/web/session/sign-out", {method: "POST", credentials: "same-origin",
        headers: {"X-CSRF-TOKEN": csrf()}});
    } finally {
      location.assign("/signin" + (reason ? "?reason=" + reason : ""));
    }
  }

  // Idle sign-out: activity keeps the session fresh; 15 quiet minutes end it.
  ["keydown", "pointerdown", "scroll"].forEach(function (kind) {
    addEventListener(kind, function () {
      lastActivity = Date.now();
      if (access && Date.now() - refreshedAt > REFRESH_AFTER_MS) refresh();
    }, {passive: true});
  });
  setInterval(function () {
    if (access && Date.now() - lastActivity > IDLE_MS) signOut("idle");
  }, 30 * 1000);

  function status(text) { document.getElementById("status").textContent = text; }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    Object.entries(attrs || {}).forEach(function ([key, value]) { node.setAttribute(key, value); });
    return node;
  }

  function fail(error) { if (error.message !== "signed out") status(error.message); }

  document.addEventListener("DOMContentLoaded", function () {
    const button = document.getElementById("sign-out");
    if (button) button.addEventListener("click", function () { signOut(); });
  });

  window.Waypoint = {api: api, json: json, problem: problem, refresh: refresh, status: status, el: el,
    fail: fail, signOut: signOut, role: function () { return role; }, setSignedIn: function (body) {
      access = body.access_token; role = body.role; refreshedAt = Date.now(); }};
})();

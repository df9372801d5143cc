// Refresh without reload: every `data-refresh` seconds and whenever a picker changes, fetch
// the page's JSON endpoint and swap in the HTML fragments it carries (rendered on the server,
// the same rendering as the first load). The URL follows the pickers, so a reload or a shared
// link shows the same view. `body[data-refreshes]` counts completed refreshes (tests wait on it).
(function () {
  "use strict";
  const page = document.getElementById("page");
  const unit = document.getElementById("unit-picker");
  const preset = document.getElementById("period-picker");
  const from = document.getElementById("from-picker");
  const to = document.getElementById("to-picker");
  const fromDay = document.getElementById("from-day");
  const toExclusive = document.getElementById("to-exclusive");
  const errorBox = document.getElementById("refresh-error");
  const langLink = document.querySelector("a.lang");
  const backLink = document.getElementById("back-link");
  const lang = document.documentElement.lang;
  const unitInPath = page.dataset.page.startsWith("/dashboard/units/");
  let inFlight = false;
  let again = false;  // asked for while one was in flight: run once more after it
  let refreshes = 0;
  // While the figures trail the data written (the server marks them `.behind`), look again
  // soon: the sink has asked for a recomputation, which takes seconds, not a minute.
  const BEHIND_RETRY_MS = 3000;
  let soon = null;

  function lookAgainIfBehind() {
    clearTimeout(soon);
    if (document.querySelector("#figures-as-of .behind")) soon = setTimeout(refresh, BEHIND_RETRY_MS);
  }

  // The day pickers are text in dd/mm/yyyy (a native date input would follow the browser's
  // locale); the query and the presets use ISO days.
  function isoDay(input) {
    const match = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(input.value.trim());
    if (!match) return null;
    const [day, month, year] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const date = new Date(Date.UTC(year, month - 1, day));
    const valid = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1
      && date.getUTCDate() === day;
    return valid ? date.toISOString().slice(0, 10) : null;
  }

  function showDay(input, iso) {
    const [year, month, day] = iso.split("-");
    input.value = day + "/" + month + "/" + year;
  }

  function checkDay(input) {
    const valid = isoDay(input) !== null;
    input.setAttribute("aria-invalid", valid ? "false" : "true");
    return valid;
  }

  function addDays(iso, days) {
    const day = new Date(iso + "T00:00:00Z");
    day.setUTCDate(day.getUTCDate() + days);
    return day.toISOString().slice(0, 10);
  }

  function query(overrides) {
    const params = new URLSearchParams();
    params.set("from", isoDay(from));
    params.set("to", addDays(isoDay(to), 1));
    if (unit.value && !unitInPath) params.set("unit", unit.value);
    if (lang !== "vi") params.set("lang", lang);
    for (const [key, value] of Object.entries(overrides || {})) {
      if (value) params.set(key, value); else params.delete(key);
    }
    return params.toString();
  }

  function pagePath() {
    return unitInPath ? "/dashboard/units/" + encodeURIComponent(unit.value) : page.dataset.page;
  }

  async function refresh() {
    if (inFlight) { again = true; return; }
    const valid = [checkDay(from), checkDay(to)].every(Boolean);
    if (!valid || isoDay(from) > isoDay(to)) return;
    inFlight = true;
    const api = page.dataset.api.replace("{unit}", encodeURIComponent(unit.value));
    const q = query();
    try {
      const response = await fetch(api + "?" + q, { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || response.statusText);
      for (const [id, html] of Object.entries(data.html)) {
        const element = document.getElementById(id);
        if (element) element.innerHTML = html;
      }
      fromDay.value = isoDay(from);
      toExclusive.value = addDays(isoDay(to), 1);
      history.replaceState(null, "", pagePath() + "?" + q);
      langLink.href = pagePath() + "?" + query({ lang: lang === "vi" ? "en" : "" });
      if (backLink) backLink.href = "/dashboard?" + q;
      errorBox.textContent = "";
      lookAgainIfBehind();
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
    } catch (error) {
      errorBox.textContent = page.dataset.failed.replace("{error}", error.message);
    } finally {
      inFlight = false;
      if (again) { again = false; refresh(); }
    }
  }

  function matchPreset() {
    const value = isoDay(from) + "/" + addDays(isoDay(to), 1);
    const found = Array.from(preset.options).some((option) => option.value === value);
    preset.value = found ? value : "";
  }

  preset.addEventListener("change", () => {
    if (!preset.value) return;
    const [start, end] = preset.value.split("/");
    showDay(from, start);
    showDay(to, addDays(end, -1));
    refresh();
  });
  for (const input of [from, to]) {
    input.addEventListener("change", () => {
      if (!checkDay(from) || !checkDay(to)) return;
      matchPreset();
      refresh();
    });
  }
  unit.addEventListener("change", refresh);
  document.getElementById("pickers").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  setInterval(() => { if (!document.hidden) refresh(); }, Number(page.dataset.refresh) * 1000);
  document.body.dataset.refreshes = "0";
  lookAgainIfBehind();
})();

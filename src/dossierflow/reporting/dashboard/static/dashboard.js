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
  const toExclusive = document.getElementById("to-exclusive");
  const errorBox = document.getElementById("refresh-error");
  const langLink = document.querySelector("a.lang");
  const backLink = document.getElementById("back-link");
  const lang = document.documentElement.lang;
  const unitInPath = page.dataset.page.startsWith("/dashboard/units/");
  let inFlight = false;
  let refreshes = 0;

  function addDays(isoDay, days) {
    const day = new Date(isoDay + "T00:00:00Z");
    day.setUTCDate(day.getUTCDate() + days);
    return day.toISOString().slice(0, 10);
  }

  function query(overrides) {
    const params = new URLSearchParams();
    params.set("from", from.value);
    params.set("to", addDays(to.value, 1));
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
    if (inFlight || !from.value || !to.value || from.value > to.value) return;
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
      toExclusive.value = addDays(to.value, 1);
      history.replaceState(null, "", pagePath() + "?" + q);
      langLink.href = pagePath() + "?" + query({ lang: lang === "vi" ? "en" : "" });
      if (backLink) backLink.href = "/dashboard?" + q;
      errorBox.textContent = "";
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
    } catch (error) {
      errorBox.textContent = page.dataset.failed.replace("{error}", error.message);
    } finally {
      inFlight = false;
    }
  }

  function matchPreset() {
    const value = from.value + "/" + addDays(to.value, 1);
    const found = Array.from(preset.options).some((option) => option.value === value);
    preset.value = found ? value : "";
  }

  preset.addEventListener("change", () => {
    if (!preset.value) return;
    const [start, end] = preset.value.split("/");
    from.value = start;
    to.value = addDays(end, -1);
    refresh();
  });
  for (const input of [from, to]) {
    input.addEventListener("change", () => { matchPreset(); refresh(); });
  }
  unit.addEventListener("change", refresh);
  document.getElementById("pickers").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  setInterval(() => { if (!document.hidden) refresh(); }, Number(page.dataset.refresh) * 1000);
  document.body.dataset.refreshes = "0";
})();

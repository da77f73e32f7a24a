// fluxsite: behaviour shared by every page. Plain JavaScript, no dependencies; pages work without it.
"use strict";

const Studio = (() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  function announce(text) {
    const region = document.getElementById("announcer");
    if (region) region.textContent = text;
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // Sensitive (NSFW-flagged) outputs stay blurred until the person asks to see them.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-reveal]");
    if (!button) return;
    event.preventDefault();
    button.parentElement.classList.add("revealed");
    button.parentElement.querySelector("a, img")?.focus?.();
  });

  // Studio tiles carry no menu in the HTML (30 tiles would carry 30 copies of every action): each gets a
  // copy of the page's one <template id="tile-menu"> (includes/tile_menu.html) with its output's id in place
  // of the template's zero id, and the menu becomes the tile's one tab stop. Without scripts the tile's
  // image links to the output's page, which has every action.
  function addTileMenus(root) {
    const template = document.getElementById("tile-menu");
    if (!template) return;
    for (const tile of root.querySelectorAll("figure.tile[id^='output-']")) {
      if (tile.querySelector(".tile-menu")) continue;
      const tools = fragment(template.innerHTML.replaceAll(template.dataset.placeholder, tile.id.slice("output-".length)));
      const label = tools.querySelector("[data-tile-label]");
      label.textContent = (tile.querySelector("img")?.alt || "Variation").split(":")[0] + label.textContent;
      if (tile.hasAttribute("data-starred")) {
        tools.querySelector('[data-star] input[name="starred"]')?.setAttribute("value", "0");
        tools.querySelector("[data-star] [aria-pressed]")?.setAttribute("aria-pressed", "true");
        const star = tools.querySelector("[data-star] .star-label");
        if (star) star.textContent = "Starred";
      }
      tile.querySelector(".tile-image")?.setAttribute("tabindex", "-1");
      tile.append(tools);
    }
  }
  addTileMenus(document); // deferred: the page is parsed

  // Stars toggle in place; without scripts the form posts and the page comes back.
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-star]");
    if (!form) return;
    event.preventDefault();
    const input = form.querySelector('input[name="starred"]');
    const body = new FormData(form);
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(response.status);
      const { starred } = await response.json();
      input.value = starred ? "0" : "1";
      form.querySelectorAll('[aria-pressed]').forEach((b) => b.setAttribute("aria-pressed", String(starred)));
      const label = form.querySelector(".star-label");
      if (label) label.textContent = starred ? "Starred" : "Star";
      announce(starred ? "Starred" : "Star removed");
    } catch {
      form.submit();
    }
  });

  // Jobs still on their way are refreshed every 1.5 s without reloading the page; polling stops
  // when none is left. The server renders the new card (or history row) so HTML lives in one place.
  const POLL_MS = 1500;

  function startLiveUpdates(container) {
    const url = container.dataset.live;
    const view = container.dataset.view || "card";
    const back = container.dataset.return || "";
    let timer = null;

    const activeIds = () => [...container.querySelectorAll("[data-job][data-active]")].map((el) => el.dataset.job);

    async function poll() {
      timer = null;
      const ids = activeIds();
      if (!ids.length) return;
      if (document.hidden) return schedule();
      const query = new URLSearchParams({ ids: ids.join(","), view });
      if (back) query.set("next", back);
      try {
        const response = await fetch(`${url}?${query}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (response.ok) {
          const { jobs } = await response.json();
          for (const job of jobs) {
            const current = container.querySelector(`[data-job="${job.id}"]`);
            if (!current) continue;
            const previous = current.dataset.status;
            const replacement = fragment(job.html);
            const hadFocus = current.contains(document.activeElement);
            current.replaceWith(replacement);
            addTileMenus(replacement);
            if (hadFocus) replacement.querySelector("a, button")?.focus();
            if (previous !== job.status) announce(`A job is now ${job.status}.`);
          }
        }
      } catch {
        // A failed poll (server restarting, network blip) is simply tried again.
      }
      schedule();
    }

    function schedule() {
      if (!timer && activeIds().length) timer = setTimeout(poll, POLL_MS);
    }

    schedule();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-live]").forEach(startLiveUpdates);
  });

  // For the page scripts loaded after this one (team.js, upload.js): a top-level const is shared by
  // every classic script, though never a property of `window`.
  return { csrfToken, announce, fragment };
})();

// The output page as a lightbox: ← / → (or a swipe) through the gallery's outputs, Esc back to where the
// person came from (the gallery, the job history, a board), S star, C compare modes, V / Shift+V vary (subtle / strong), D download, ? the key list.
// Every output has its own URL, so a view can be linked and Back works; the links work without scripts.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const find = (selector) => document.querySelector(selector);
  const dialog = find("#lightbox-keys");
  if (!dialog) return;

  // Stepping replaces the history entry, so Back (and Esc) return to the page the person came from,
  // scrolled as they left it, however many outputs they went through; each output keeps its own URL.
  // The chosen mode (compare.js writes it into the URL) goes along.
  function go(link) {
    if (!link) return;
    const target = new URL(link.href);
    target.search = window.location.search;
    window.location.replace(target);
  }

  const from = document.referrer ? new URL(document.referrer) : null;
  if (!from || from.origin !== window.location.origin) sessionStorage.setItem("lightbox-from", "outside");
  else if (!from.pathname.startsWith("/outputs/")) sessionStorage.setItem("lightbox-from", "site");

  function leave() {
    if (sessionStorage.getItem("lightbox-from") === "site") history.back();
    else window.location.assign(find("[data-lightbox-back]").href); // opened from a link: its gallery
  }

  function cycleMode() {
    const links = [...document.querySelectorAll("[data-mode-link]")];
    const current = links.findIndex((link) => link.getAttribute("aria-current") === "true");
    links[(current + 1) % links.length]?.click();
  }

  const actions = {
    ArrowLeft: () => go(find("[data-lightbox-prev]")),
    ArrowRight: () => go(find("[data-lightbox-next]")),
    Escape: leave,
    s: () => find("[data-lightbox-star]")?.click(),
    c: cycleMode,
    v: () => find('[data-lightbox-vary="subtle"]')?.click(),
    V: () => find('[data-lightbox-vary="strong"]')?.click(),
    d: () => find("[data-lightbox-download]")?.click(),
    "?": () => dialog.showModal(),
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (dialog.open) return; // the dialog closes itself on Esc
    if (event.target.closest("input:not([type=range]), textarea, select, [contenteditable]")) return;
    if (event.target.matches("input[type=range]") && event.key.startsWith("Arrow")) return; // moves the slider
    const key = event.key.length === 1 && event.key !== "V" ? event.key.toLowerCase() : event.key;
    const action = actions[event.shiftKey && key === "v" ? "V" : key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  find("[data-lightbox-keys]")?.addEventListener("click", () => dialog.showModal());

  // A horizontal swipe on the image goes to the previous or next output (not over the compare slider).
  const stage = find(".viewer-stage");
  let start = null;
  stage?.addEventListener("pointerdown", (event) => {
    start = event.pointerType === "mouse" || event.target.closest(".compare") ? null : { x: event.clientX, y: event.clientY };
  });
  stage?.addEventListener("pointerup", (event) => {
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    start = null;
    if (Math.abs(dx) > 60 && Math.abs(dx) > 2 * Math.abs(dy)) go(find(dx > 0 ? "[data-lightbox-prev]" : "[data-lightbox-next]"));
  });
});

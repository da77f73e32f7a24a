// On a phone the top navigation folds into a Menu button that opens every item and who is signed in.
// Without scripts (or on a wide screen) the navigation shows as it is; the button only appears here.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const topbar = document.querySelector(".topbar");
  const toggle = topbar?.querySelector(".menu-toggle");
  if (!toggle) return;
  topbar.classList.add("has-menu");
  toggle.hidden = false;

  function setOpen(open) {
    topbar.classList.toggle("menu-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  }

  toggle.addEventListener("click", () => setOpen(!topbar.classList.contains("menu-open")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && topbar.classList.contains("menu-open")) {
      setOpen(false);
      toggle.focus();
    }
  });
});

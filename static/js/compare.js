// The output viewer: the output alone, a compare slider over the source, or both side by side.
// The mode links work without scripts (?mode=...); with them the mode changes in place.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const viewer = document.querySelector(".viewer");
  if (!viewer) return;
  // The exact shape of the output (its shape-N class is the nearest tenth; no style="" under the CSP).
  const stage = viewer.querySelector("[data-ratio]");
  if (stage) stage.style.setProperty("--ratio", stage.dataset.ratio);
  const links = viewer.querySelectorAll("[data-mode-link]");

  function show(mode) {
    viewer.dataset.mode = mode;
    for (const link of links) {
      if (link.dataset.modeLink === mode) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
    const url = new URL(window.location);
    url.searchParams.set("mode", mode);
    history.replaceState(null, "", url);
  }

  links.forEach((link) =>
    link.addEventListener("click", (event) => {
      event.preventDefault();
      show(link.dataset.modeLink);
    }),
  );

  const compare = viewer.querySelector(".compare");
  const range = compare?.querySelector(".compare-range");
  if (range) {
    const move = () => compare.style.setProperty("--pos", `${range.value}%`);
    range.addEventListener("input", move);
    move();
  }
});

// Share pages (read-only): a tile opens its image in a lightbox over the page instead of leaving it.
// ← / → (or a swipe) go through the page's images in page order, Esc or Back closes it; the address
// (#view-<tile id>) changes with each image, so a view can be linked and the Back button works.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (!document.querySelector(".shared-head")) return;
  const links = [...document.querySelectorAll("main a.tile-image[href]")];
  if (!links.length) return;

  const box = document.createElement("dialog");
  box.className = "share-lightbox";
  box.setAttribute("aria-label", "Image viewer");
  box.innerHTML = `
    <img alt="">
    <p class="share-lightbox-bar">
      <button type="button" class="btn btn-sm" data-step="-1" aria-keyshortcuts="ArrowLeft">← Previous</button>
      <span class="share-lightbox-where" aria-live="polite"></span>
      <button type="button" class="btn btn-sm" data-step="1" aria-keyshortcuts="ArrowRight">Next →</button>
      <button type="button" class="btn btn-sm btn-ghost" data-close aria-keyshortcuts="Escape">Close</button>
    </p>`;
  document.body.append(box);
  const image = box.querySelector("img");
  const where = box.querySelector(".share-lightbox-where");
  let current = -1;
  let pushed = false; // opened here (a history entry to go back over) rather than from a linked #view-…

  const hashOf = (index) => `#view-${links[index].closest("[id]")?.id ?? index}`;

  function show(index) {
    current = (index + links.length) % links.length;
    const link = links[current];
    image.src = link.href;
    image.alt = link.querySelector("img")?.alt ?? "";
    where.textContent = `${current + 1} of ${links.length}`;
    if (!box.open) box.showModal();
  }

  function open(index) {
    history.pushState({ view: index }, "", hashOf(index));
    pushed = true;
    show(index);
  }

  function leave() {
    if (pushed) {
      history.back(); // popstate closes the box
    } else {
      history.replaceState(null, "", window.location.pathname + window.location.search);
      box.close();
    }
  }

  function step(by) {
    const index = (current + by + links.length) % links.length;
    history.replaceState({ view: index }, "", hashOf(index));
    show(index);
  }

  links.forEach((link, index) =>
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      open(index);
    }),
  );

  box.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button?.dataset.step) step(Number(button.dataset.step));
    else if (button?.hasAttribute("data-close") || event.target === box) leave();
  });
  box.addEventListener("cancel", (event) => {
    event.preventDefault(); // Esc: leave through history, so Back and Esc agree
    leave();
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") step(-1);
    if (event.key === "ArrowRight") step(1);
  });

  let start = null;
  image.addEventListener("pointerdown", (event) => { start = event.clientX; });
  image.addEventListener("pointerup", (event) => {
    if (start !== null && Math.abs(event.clientX - start) > 60) step(event.clientX < start ? 1 : -1);
    start = null;
  });

  function follow() {
    const index = links.findIndex((_, i) => hashOf(i) === window.location.hash);
    if (index >= 0) {
      show(index);
    } else {
      pushed = false;
      if (box.open) box.close();
    }
  }
  window.addEventListener("popstate", follow);
  follow(); // a linked view opens at once
});

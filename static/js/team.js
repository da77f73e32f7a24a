// fluxsite: copy buttons for links and tokens, and a confirmation before forms that take something away.
// Loaded after studio.js on every page (templates/base.html), so Studio is always there.
"use strict";

(() => {
  async function copyText(input) {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select(); // without the Clipboard API (older browsers, plain-http hosts) fall back to a selection
      document.execCommand("copy");
    }
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    if (!input) return;
    await copyText(input);
    const label = button.querySelector("span");
    const before = label ? label.textContent : "";
    if (label) label.textContent = "Copied";
    button.classList.add("is-copied");
    Studio.announce("Copied to the clipboard");
    setTimeout(() => {
      if (label) label.textContent = before;
      button.classList.remove("is-copied");
    }, 2000);
  });

  // A read-only link selects itself whole on focus, ready for Ctrl-C.
  document.addEventListener("focusin", (event) => {
    if (event.target.matches("[data-copy-source]")) event.target.select();
  });

  // The question is the form's, or the clicked button's where one form has several (a job's Delete).
  document.addEventListener("submit", (event) => {
    const asking = event.submitter?.matches("[data-confirm]") ? event.submitter : event.target.closest("form[data-confirm]");
    if (asking && !window.confirm(asking.dataset.confirm)) event.preventDefault();
  });
})();

// The new-variation form: one-click presets, sizes that keep the source's aspect ratio, and a slider beside
// the guidance ("closeness to the source") field. The server validates everything again; this only fills fields in.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector(".variation-form");
  if (!form) return;
  const presets = JSON.parse(document.getElementById("variation-presets").textContent);
  const field = (name) => form.elements.namedItem(name);
  const presetButtons = form.querySelectorAll("[data-preset]");
  const sizeButtons = form.querySelectorAll("[data-size]");
  const slider = form.querySelector('input[type="range"][data-mirror]');
  const strength = field("guidance_scale");
  const steps = field("num_inference_steps");
  const size = field("size");

  function markPreset() {
    for (const button of presetButtons) {
      const values = presets[button.dataset.preset];
      const matches = Number(strength.value) === values.guidance_scale && Number(steps.value) === values.num_inference_steps;
      button.setAttribute("aria-pressed", String(matches));
    }
  }

  function markSize() {
    for (const button of sizeButtons) button.setAttribute("aria-pressed", String(button.dataset.size === size.value.trim()));
  }

  for (const button of presetButtons) {
    button.addEventListener("click", () => {
      const values = presets[button.dataset.preset];
      strength.value = values.guidance_scale;
      steps.value = values.num_inference_steps;
      if (slider) slider.value = values.guidance_scale;
      markPreset();
    });
  }

  for (const button of sizeButtons) {
    button.addEventListener("click", () => {
      size.value = button.dataset.size;
      markSize();
    });
  }

  if (slider) {
    slider.addEventListener("input", () => {
      strength.value = slider.value;
      markPreset();
    });
    strength.addEventListener("input", () => {
      slider.value = strength.value;
      markPreset();
    });
  }
  steps.addEventListener("input", markPreset);
  size.addEventListener("input", markSize);
  markPreset();
  markSize();
});

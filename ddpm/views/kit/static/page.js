() => {
  if (new URLSearchParams(window.location.search).get("lecture") === "1") {
    document.body.classList.add("lecture");
  }
  document.addEventListener("keydown", (event) => {
    if (!["ArrowLeft", "ArrowRight"].includes(event.key)) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || event.target.isContentEditable) return;
    const sliders = [...document.querySelectorAll(".timestep input[type=range]")];
    const slider = sliders.find((s) => s.offsetParent !== null);
    if (!slider) return;
    const step = (event.shiftKey ? 10 : 1) * (event.key === "ArrowRight" ? 1 : -1);
    const value = Math.min(Number(slider.max), Math.max(Number(slider.min), Number(slider.value) + step));
    slider.value = String(value);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    event.preventDefault();
  });
}

() => {
  // The layout: narrow (body.narrow) while the window is narrower than the narrow layout's width (a
  // phone), else large (body.lecture) when asked for, by ?lecture=1 or the "Large layout" switch.
  const narrow = window.matchMedia(NARROW_QUERY);
  const body = document.body;
  const layout = () => {
    body.classList.toggle("narrow", narrow.matches);
    body.classList.toggle("lecture", body.dataset.large === "1" && !narrow.matches);
  };
  window.ddpmLayout = (large) => {
    body.dataset.large = large ? "1" : "";
    layout();
  };
  narrow.addEventListener("change", layout);
  body.dataset.large = new URLSearchParams(window.location.search).get("lecture") === "1" ? "1" : "";
  layout();
  // On a phone a view's result stands above its controls: its Run shows the result from its top.
  document.addEventListener("click", (event) => {
    const run = event.target.closest && event.target.closest("button[id$='-run']");
    if (!run || !narrow.matches || !event.isTrusted) return;  // a person's tap, not a link's press
    const view = run.closest(".tabitem");
    if (view) setTimeout(() => view.scrollIntoView({ block: "start", behavior: "smooth" }), 50);
  });
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

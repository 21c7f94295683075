// Size progress meters and timeline bars from data-left / data-width (percent): the Content
// Security Policy refuses style="" in the HTML, but a script from our own origin may set styles.
(function () {
  var SELECTOR = "[data-left], [data-width]";

  function size(el) {
    if (el.dataset.left !== undefined) el.style.left = el.dataset.left + "%";
    if (el.dataset.width !== undefined) el.style.width = el.dataset.width + "%";
  }

  function sizeAll(root) {
    if (root.matches && root.matches(SELECTOR)) size(root);
    if (root.querySelectorAll) root.querySelectorAll(SELECTOR).forEach(size);
  }

  document.addEventListener("DOMContentLoaded", function () { sizeAll(document); });
  // htmx fires htmx:load on every fragment it swaps in (the live call table, slots, timeline).
  document.addEventListener("htmx:load", function (event) { sizeAll(event.target); });
})();

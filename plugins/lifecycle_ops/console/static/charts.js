// Draws every <div data-figure="..."> with plotly.js (served from the installed plotly wheel, never a CDN).
// A separate file rather than inline script so the pages run under script-src 'self'.
document.querySelectorAll("[data-figure]").forEach(function (el) {
  var fig = JSON.parse(el.dataset.figure);
  Plotly.newPlot(el, fig.data, fig.layout, {displaylogo: false, responsive: true});
  el.setAttribute("data-drawn", "1");
});

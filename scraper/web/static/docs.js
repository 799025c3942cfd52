// Render the OpenAPI document with the vendored Redoc (no CDN).
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var el = document.getElementById("redoc");
  window.Redoc.init(el.getAttribute("data-spec"), { hideDownloadButton: false }, el);
});

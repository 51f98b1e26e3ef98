// The language switch: a link to the same page in the other language.
// English is at the book's root, Bahasa Indonesia under id/.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";
  var root = new URL(path_to_root || "./", window.location.href);
  var page = window.location.href.slice(root.href.length).split("#")[0] || "index.html";
  var other = lang === "id" ? new URL("../" + page, root) : new URL("id/" + page, root);
  var link = document.createElement("a");
  link.className = "language-switch";
  link.href = other.href;
  link.textContent = lang === "id" ? "English" : "Bahasa Indonesia";
  link.setAttribute("hreflang", lang === "id" ? "en" : "id");
  var bar = document.querySelector(".right-buttons") || document.querySelector("#menu-bar");
  if (bar) bar.insertBefore(link, bar.firstChild);
})();

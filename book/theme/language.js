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
  // The language's name, and on a phone its code (the title needs the room).
  var long = document.createElement("span"), short = document.createElement("span");
  long.className = "long";
  long.textContent = lang === "id" ? "English" : "Bahasa Indonesia";
  short.className = "short";
  short.textContent = lang === "id" ? "EN" : "ID";
  link.appendChild(long);
  link.appendChild(short);
  link.title = long.textContent;
  link.setAttribute("hreflang", lang === "id" ? "en" : "id");
  var bar = document.querySelector(".right-buttons") || document.querySelector("#menu-bar");
  if (bar) bar.insertBefore(link, bar.firstChild);
})();

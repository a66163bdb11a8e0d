// site: the browser bundle of a berth example, in the layout of
// `tova build --production` (client.<hash>.js at the bundle root, loaded by
// index.html from <base>.tova-out/). Hand-written; not Tova's runtime.
(function () {
  var routes = { "/": "site", "/about": "About", "/docs": "Docs" };
  var root = document.getElementById("app");
  function render(path) {
    var page = routes[path] || "Page not found";
    root.innerHTML = "<nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav><main><h1>" + page + "</h1><p id=\"message\"></p></main>";
  }
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a");
    if (a && a.getAttribute("href").charAt(0) === "/") {
      e.preventDefault();
      history.pushState(null, "", a.getAttribute("href"));
      render(location.pathname);
    }
  });
  window.addEventListener("popstate", function () { render(location.pathname); });
  render(location.pathname);
  
})();

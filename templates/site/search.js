/* Search over every item of the site, in the browser: no framework, nothing from elsewhere.
   The index is search/index.json, fetched over http(s); a page opened from a folder (file://), where
   browsers fetch nothing, reads the same list from search/index.js instead. Every word typed (or
   phrase "in quotes") must appear in an item's title, summary, themes, kind or date (a job's organisation
   and closing date, an event's time, venue and speakers: what its result shows, as the lists do); a word
   typed in the plural ("jobs", "seminars") finds the singular too; title and theme matches rank first,
   then the newest. SHOWN results at a time: "Show more" adds the next ones. A result in another language
   than the site's has its title and summary marked with its lang (and dir), as the lists have them. Both sides are folded alike (`fold`), so accents, curly
   apostrophes, hyphens and punctuation typed or not do not decide a match. Results are built with
   textContent, so no title can become markup. */
(function () {
  "use strict";
  var SHOWN = 100;
  var form = document.getElementById("search");
  var input = document.getElementById("q");
  var status = document.getElementById("search-status");
  var results = document.getElementById("search-results");
  var elsewhere = document.getElementById("search-elsewhere");
  var more = document.getElementById("search-more");
  var pending = [], asked = "";  /* matches not shown yet, best first; for what query */
  var entries = null;
  document.getElementById("search-no-script").hidden = true;

  /* Letters that lose nothing to an accent stripped, as a reader without them types them. */
  var PLAIN = {"\u00f8": "o", "\u00e6": "ae", "\u0153": "oe", "\u00df": "ss", "\u0142": "l", "\u0111": "d",
               "\u00f0": "d", "\u00fe": "th", "\u0131": "i"};

  /* Text as search compares it: no accents, lower case, every apostrophe straight (St Catherine\u2019s is
     "st catherine's"), and any other run of what is neither letter nor digit (hyphens, dashes, quotes,
     punctuation) one space, so "co-production" and "co production" are the same words. */
  function fold(text) {
    return String(text || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[\u00f8\u00e6\u0153\u00df\u0142\u0111\u00f0\u00fe\u0131]/g, function (c) { return PLAIN[c]; })
      .replace(/[\u2018\u2019\u201b\u02bc\u2032`\u00b4]/g, "'")
      .replace(/[^\p{L}\p{M}\p{N}']+/gu, " ").replace(/(^| )'+|'+( |$)/g, " ").replace(/ {2,}/g, " ").trim();
  }

  /* What a query asks for: each phrase in quotes ("open dialogue", or in curly quotes), and each other word;
     a hyphenated word is its parts together ("open-dialogue" is the phrase "open dialogue"). */
  function terms(query) {
    var found = [], pattern = /"([^"]*)"|(\S+)/g, match;
    var text = String(query).replace(/[\u201c\u201d\u201e\u201f\u00ab\u00bb]/g, '"');
    while ((match = pattern.exec(text)) !== null) {
      var term = fold(match[1] !== undefined ? match[1] : match[2]);
      if (term) found.push(term);
    }
    return found;
  }

  function href(path) {  /* this page is search/index.html: one folder down from the site's root */
    return "../" + path + (path === "" || path.slice(-1) === "/" ? "index.html" : "");
  }

  function prepare(list) {
    return list.map(function (e) {
      return {e: e, title: fold(e.title), themes: fold((e.themes || []).join(" ")),
              rest: fold([e.summary, e.label, e.kind, e.day, e.date, e.organisation, e.closing_day, e.when,
                          e.venue, e.speakers].join(" "))};
    });
  }

  /* A term and, when its last word looks plural, that word's singular ("jobs": "job"; "charities": "charity";
     "classes": "class"): a term matches where any of them appears (as a word's start or inside it). */
  function forms(term) {
    var found = [term], last = /(\S+)$/.exec(term)[1], head = term.slice(0, term.length - last.length);
    if (last.length > 3 && /ies$/.test(last)) found.push(head + last.slice(0, -3) + "y");
    if (last.length > 3 && /(s|x|z|ch|sh)es$/.test(last)) found.push(head + last.slice(0, -2));
    if (last.length > 2 && /[^siu']s$/.test(last)) found.push(head + last.slice(0, -1));
    return found;
  }

  function within(text, variants) {
    for (var i = 0; i < variants.length; i++) if (text.indexOf(variants[i]) >= 0) return true;
    return false;
  }

  function search(query) {
    var words = terms(query).map(forms);
    if (!words.length) return null;
    var found = [];
    entries.forEach(function (x) {
      var score = 0;
      for (var i = 0; i < words.length; i++) {
        var w = words[i];
        var hit = (within(x.title, w) ? 3 : 0) + (within(x.themes, w) ? 2 : 0) + (within(x.rest, w) ? 1 : 0);
        if (!hit) return;
        score += hit;
      }
      found.push({score: score, x: x});
    });
    found.sort(function (a, b) {
      return b.score - a.score || (a.x.e.date < b.x.e.date ? 1 : a.x.e.date > b.x.e.date ? -1 : 0);
    });
    return found;
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  /* The line under a result's title, as a list has it (macros.html, `entry`): a job's organisation and closing
     date, an event's time and venue; else (or with none of those) the day it was posted. */
  function meta(e) {
    var parts = e.kind === "job" ? [e.organisation, e.closing_day ? "closing date " + e.closing_day : ""] :
      e.kind === "event" ? [e.when, e.venue] : [];
    parts = parts.filter(Boolean);
    return [e.label].concat(parts.length ? parts : [e.day]);
  }

  function show(query) {
    results.textContent = "";
    var found = search(query);
    pending = found || [];
    asked = query;
    if (found === null) { status.textContent = ""; elsewhere.hidden = true; more.hidden = true; return; }
    elsewhere.hidden = found.length > 0;
    showMore(query, found.length);
  }

  /* The next SHOWN results of `pending` under those shown, and what the status says of them. The focus stays
     on "Show more" while more remain, else goes to the first result added, so a keyboard reader reads on. */
  function showMore(query, n) {
    var next = pending.slice(0, SHOWN), first = null;
    pending = pending.slice(SHOWN);
    next.forEach(function (f) {
      var e = f.x.e;
      var article = element("article", "", "entry");
      var heading = element("h2");
      var link = element("a", e.title);
      link.href = href(e.path);
      heading.appendChild(link);
      article.appendChild(heading);
      article.appendChild(element("p", meta(e).join(" \u00b7 "), "meta"));
      var summary = e.summary ? element("p", e.summary) : null;
      if (summary) article.appendChild(summary);
      [heading, summary].forEach(function (node) {  /* an item in another language than the site's, as lists mark it */
        if (node && e.lang) { node.lang = e.lang; if (e.dir) node.dir = e.dir; }
      });
      if (e.themes && e.themes.length) article.appendChild(element("p", "Themes: " + e.themes.join(", "), "meta"));
      var item = element("li");
      item.appendChild(article);
      results.appendChild(item);
      first = first || link;
    });
    var shown = results.children.length;
    status.textContent = n === 0 ? "Nothing matches \u201c" + query + "\u201d." :
      (n === 1 ? "1 item matches" : n + " items match") + " \u201c" + query + "\u201d" +
      (shown < n ? "; the first " + shown + " are shown." : ".");
    var hadFocus = document.activeElement === more;
    more.hidden = !pending.length;
    if (hadFocus && more.hidden && first) first.focus();
  }

  function ready(list) {
    entries = prepare(list);
    if (!input.value) input.value = new URLSearchParams(window.location.search).get("q") || "";
    show(input.value);  /* what the reader typed while the index loaded, or the ?q= of the address */
  }

  function failed() {
    status.textContent = "The search index could not be loaded.";
    elsewhere.hidden = false;
  }

  function load() {
    if (window.location.protocol === "http:" || window.location.protocol === "https:") {
      fetch(form.getAttribute("data-index")).then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      }).then(ready, failed);
    } else {
      var script = document.createElement("script");
      script.src = form.getAttribute("data-index-script");
      script.onload = function () { window.siteSearchIndex ? ready(window.siteSearchIndex) : failed(); };
      script.onerror = failed;
      document.head.appendChild(script);
    }
  }

  var timer = null;
  input.addEventListener("input", function () {
    if (!entries) return;
    clearTimeout(timer);
    timer = setTimeout(function () { show(input.value); }, 150);
  });
  more.addEventListener("click", function () {
    showMore(asked, results.children.length + pending.length);
  });
  form.addEventListener("submit", function (event) {
    if (!entries) return;  /* not loaded yet: let the form reload the page with ?q= */
    event.preventDefault();
    var url = new URL(window.location.href);
    url.searchParams.set("q", input.value);
    if (window.location.protocol !== "file:") window.history.replaceState(null, "", url);
    show(input.value);
  });
  load();
})();

// The workspace's only script (the Content-Security-Policy allows no other): times in the reader's
// time zone, and new mentions in the inbox without a reload. Crawled text only ever goes in as
// textContent, never as markup.
"use strict";

function localTimes(root) {
  const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
    { dateStyle: "medium", timeStyle: "short" });
  root.querySelectorAll("time[datetime]").forEach((node) => {
    const when = new Date(node.getAttribute("datetime"));
    if (!isNaN(when)) {
      node.textContent = format.format(when);
      node.title = node.getAttribute("datetime");
    }
  });
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function mentionRow(row, labels) {
  const item = element("li", "mention arrived");
  item.dataset.docId = row.doc_id;
  const meta = element("div", "meta");
  if (row.sentiment) {
    meta.append(element("span", "badge " + row.sentiment, labels[row.sentiment] + (row.corrected ? " ✓" : "")));
  }
  if (row.stars !== null) {
    const whole = Math.round(row.stars);
    meta.append(element("span", "stars", "★".repeat(whole) + "☆".repeat(5 - whole)));
  }
  meta.append(element("span", "site", row.site));
  row.brands.forEach((brand) => meta.append(element("span", "tag brand", brand)));
  meta.append(element("span", "tag lang", row.language));
  row.categories.forEach((name) => {
    const tag = element("a", "tag category", labels.categories[name] || name);
    tag.href = "/inbox?category=" + encodeURIComponent(name);
    meta.append(tag);
  });
  meta.append(element("span", "status status-" + row.status, labels[row.status] || row.status));
  if (row.date) {
    const time = element("time", null, row.date);
    time.setAttribute("datetime", row.date);
    meta.append(time);
  }
  item.append(meta);
  const title = element("a", "title", row.title || labels.untitled);
  title.href = "/mentions/" + encodeURIComponent(row.doc_id);
  item.append(title);
  const excerpt = element("p", "excerpt");
  row.excerpt.forEach(([piece, brand]) => {
    excerpt.append(brand ? element("mark", null, piece) : document.createTextNode(piece));
  });
  item.append(excerpt);
  if (row.drivers.length) {
    const drivers = element("ul", "drivers");
    row.drivers.forEach((sentence) => drivers.append(element("li", null, sentence)));
    item.append(drivers);
  }
  return item;
}

function pollInbox(list) {
  const labels = JSON.parse(list.dataset.labels);
  const notice = document.getElementById("arrivals");
  let after = list.dataset.after;
  let arrived = 0;
  async function poll() {
    try {
      const reply = await fetch(list.dataset.poll + "&after=" + encodeURIComponent(after),
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (reply.ok) {
        const data = await reply.json();
        after = data.after;
        const empty = list.querySelector("li.empty");
        data.rows.forEach((row) => {
          if (list.querySelector(`li[data-doc-id="${CSS.escape(row.doc_id)}"]`)) return;
          if (empty) empty.remove();
          const item = mentionRow(row, labels);
          list.prepend(item);
          localTimes(item);
          arrived += 1;
        });
        if (arrived) {
          notice.textContent = labels.arrived.replace("{count}", arrived);
          notice.hidden = false;
        }
      }
    } catch (error) {
      // the server may be restarting: try again at the next tick
    }
    setTimeout(poll, 5000);
  }
  setTimeout(poll, 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const list = document.getElementById("inbox");
  if (list && list.dataset.poll) pollInbox(list);
});

// The Markdown ragship writes (postmortem drafts: headings, paragraphs, pipe tables, lists, **bold**, _italic_,
// `code`) as DOM nodes: text stays text (no innerHTML), so a title or a question holding markup shows as written.

function markdownInline(text) {
  const out = [];
  const re = /\*\*(.+?)\*\*|(?<![\w])_(.+?)_(?![\w])|`([^`]+)`/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    out.push(text.slice(last, m.index));
    const [tag, inner] = m[1] != null ? ["strong", m[1]] : m[2] != null ? ["em", m[2]] : ["code", m[3]];
    const node = document.createElement(tag);
    node.append(...(tag === "code" ? [inner] : markdownInline(inner)));
    out.push(node);
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out.filter((x) => x !== "");
}

function markdownTable(lines) {
  const cellsOf = (line) => line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const c of cellsOf(lines[0])) {
    const th = document.createElement("th");
    th.scope = "col";
    th.append(...markdownInline(c));
    head.append(th);
  }
  const body = table.createTBody();
  for (const line of lines.slice(2)) {
    const row = body.insertRow();
    for (const c of cellsOf(line)) {
      const cell = row.insertCell();
      if (/^\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?$/.test(c)) cell.className = "when";  // a date: one line
      else if (/^\d+$/.test(c)) cell.className = "num";  // a number (the "#" column: 10 wrapped to 1 over 0) too
      cell.append(...markdownInline(c));
    }
  }
  return table;
}

export function renderMarkdown(text) {
  const out = document.createDocumentFragment();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    const heading = line.match(/^(#{1,4}) (.*)$/);
    if (heading) {
      const h = document.createElement(`h${Math.min(heading[1].length + 1, 5)}`);  // the page has its own h1
      h.append(...markdownInline(heading[2]));
      out.append(h);
      i += 1;
    } else if (line.startsWith("|")) {
      const block = [];
      while (i < lines.length && lines[i].startsWith("|")) block.push(lines[i++]);
      out.append(markdownTable(block));
    } else if (/^[-*] /.test(line)) {
      const list = document.createElement("ul");
      while (i < lines.length && /^[-*] /.test(lines[i])) {
        const li = document.createElement("li");
        li.append(...markdownInline(lines[i++].slice(2)));
        list.append(li);
      }
      out.append(list);
    } else if (line.trim()) {
      const p = document.createElement("p");
      const para = [];
      while (i < lines.length && lines[i].trim() && !/^(#{1,4} |\||[-*] )/.test(lines[i])) para.push(lines[i++]);
      p.append(...markdownInline(para.join(" ")));
      out.append(p);
    } else {
      i += 1;
    }
  }
  return out;
}

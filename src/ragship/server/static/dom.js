// DOM helpers every page uses. Server text only ever reaches the page as text nodes (el's children), never markup.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

// A table row of `tag` cells (th: column headers), each value as text.
export function cells(tag, values) {
  return el("tr", {}, ...values.map((x) => el(tag, tag === "th" ? { scope: "col" } : {}, String(x))));
}

// One time zone everywhere: UTC, as incidents, postmortems and the CLI write it.
export const utc = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "—");

// `text` saved as the file `name`.
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
